#include "target_churn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>

extern char** environ;

namespace soak {

TargetChurn::TargetChurn(std::string dtvm, std::string pid_dir, std::vector<std::string> guest_args)
    : dtvm_(std::move(dtvm)), dir_(std::move(pid_dir)), guest_args_(std::move(guest_args)) {}

TargetChurn::~TargetChurn() {
    for (pid_t p : steady_) kill_guest(p);
    for (pid_t p : cycle_) kill_guest(p);
}

pid_t TargetChurn::start_guest() {
    std::vector<std::string> args = {dtvm_};
    args.insert(args.end(), guest_args_.begin(), guest_args_.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int err = ::posix_spawn(&pid, dtvm_.c_str(), &quiet, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&quiet);
    if (err != 0) throw std::runtime_error("cannot start " + dtvm_);
    ++started_;
    return pid;
}

// Written under another name and renamed in, so the sidecar never reads a
// half-written file.
void TargetChurn::write_pid_file(const std::string& target, pid_t pid) {
    const std::string tmp = dir_ + "/." + target + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) throw std::runtime_error("cannot write " + tmp);
    std::fprintf(f, "%d\n", int(pid));
    std::fclose(f);
    if (::rename(tmp.c_str(), (dir_ + "/" + target + ".pid").c_str()) != 0)
        throw std::runtime_error("cannot rename " + tmp);
}

void TargetChurn::remove_pid_file(const std::string& target) { ::unlink((dir_ + "/" + target + ".pid").c_str()); }

// Killed and reaped at once: a zombie would still look like a process.
void TargetChurn::kill_guest(pid_t pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
}

void TargetChurn::churn_other_files() {
    for (int i = 0; i < 300; ++i) {
        const std::string path = dir_ + "/other-" + std::to_string(i) + ".txt";
        if (FILE* f = std::fopen(path.c_str(), "w")) std::fclose(f);
        ::unlink(path.c_str());
    }
}

void TargetChurn::start_steady(int n) {
    for (int i = 0; i < n; ++i) {
        steady_.push_back(start_guest());
        write_pid_file("steady-" + std::to_string(i), steady_.back());
    }
}

std::vector<std::string> TargetChurn::steady_targets() const {
    std::vector<std::string> names;
    for (size_t i = 0; i < steady_.size(); ++i) names.push_back("steady-" + std::to_string(i));
    return names;
}

void TargetChurn::grow() {
    for (int i = 0; i < 3; ++i) {
        cycle_.push_back(start_guest());
        write_pid_file("churn-" + std::to_string(i), cycle_.back());
    }
    churn_other_files();
}

void TargetChurn::shrink() {
    if (cycle_.size() != 3) return;
    // churn-0: the pid file goes first, as libvirt removes it at shutdown.
    remove_pid_file("churn-0");
    kill_guest(cycle_[0]);
    // churn-1: the process dies, its pid file stays a while (a crash).
    kill_guest(cycle_[1]);
    // churn-2: the pid file is rewritten with a new guest's PID (a restart).
    const pid_t again = start_guest();
    write_pid_file("churn-2", again);
    kill_guest(cycle_[2]);
    remove_pid_file("churn-1");
    remove_pid_file("churn-2");
    kill_guest(again);
    cycle_.clear();
}

}  // namespace soak
