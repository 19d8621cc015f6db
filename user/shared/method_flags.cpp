#include "method_flags.hpp"

#include <cerrno>

namespace dtrack::cli {

void add_method_flags(CLI::App& cmd, MethodFlags& f) {
    cmd.add_option("--method", f.method, "auto | bpf | sample")->capture_default_str();
    cmd.add_flag("--exact", f.exact, "sample method: hash every present page instead of a sample (exact, costlier)");
    cmd.add_option("--bound", f.bound,
                   "sample method: the 95% bound to sample for, as a share of the present pages (2%: ~2400 "
                   "pages read per interval, about 1% of a core at 1s intervals; 1%: ~9600; 5%: ~400)")
        ->capture_default_str();
    cmd.add_option("--sample-pages", f.sample_pages, "sample method: read this many pages per interval instead");
}

Result<ChosenMethod> parse_method_flags(const MethodFlags& f) {
    auto method = parse_rate_method(f.method);
    if (!method) return method.error();
    auto bound = parse_bound(f.bound);
    if (!bound) return bound.error();
    if (f.exact && (f.sample_pages || f.bound != MethodFlags{}.bound))
        return Error{EINVAL, "--exact hashes every page: --bound and --sample-pages do not apply",
                     "leave out --exact to sample, or the sample options to hash everything"};
    return ChosenMethod{
        .method = *method, .exact_sampling = f.exact, .max_error = *bound, .sample_pages = f.sample_pages};
}

}  // namespace dtrack::cli
