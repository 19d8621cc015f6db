#include "oci_annotations.hpp"

#include <nlohmann/json.hpp>

namespace dtrack::cli::sidecar {

namespace {

// A config.json is some 5 levels deep; far more is not a runtime's file.
constexpr size_t max_depth = 32;

using json = nlohmann::json;

// Keeps the string members of the top-level "annotations" object.
class AnnotationsSax : public nlohmann::json_sax<json> {
public:
    PodAnnotations found;
    bool too_deep = false;

    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool string(string_t& value) override {
        if (depth_ == 2 && in_annotations_) take(value);
        return true;
    }
    bool start_object(std::size_t) override { return enter(); }
    bool start_array(std::size_t) override { return enter(); }
    bool end_object() override { return leave(); }
    bool end_array() override { return leave(); }
    bool key(string_t& k) override {
        if (depth_ == 1) top_key_ = k;
        if (depth_ == 2) key_ = k;
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

private:
    bool enter() {
        ++depth_;
        if (depth_ == 2) in_annotations_ = top_key_ == "annotations";
        too_deep = depth_ > max_depth;
        return !too_deep;
    }
    bool leave() {
        if (depth_ == 2) in_annotations_ = false;
        --depth_;
        key_.clear();
        return true;
    }
    void take(const std::string& value) {
        if (key_ == "io.kubernetes.cri.sandbox-name" || key_ == "io.kubernetes.pod.name") found.pod = value;
        if (key_ == "io.kubernetes.cri.sandbox-namespace" || key_ == "io.kubernetes.pod.namespace")
            found.namespace_ = value;
        if (key_ == "io.kubernetes.cri.container-name" || key_ == "io.kubernetes.container.name")
            found.container = value;
    }

    size_t depth_ = 0;
    bool in_annotations_ = false;
    std::string top_key_, key_;
};

}  // namespace

Result<PodAnnotations> pod_annotations_of(std::string_view config_json) {
    AnnotationsSax sax;
    const bool parsed = json::sax_parse(config_json.begin(), config_json.end(), &sax);
    if (sax.too_deep)
        return Error{EINVAL, "it nests deeper than " + std::to_string(max_depth) + " levels",
                     "a runtime's config.json is a few levels deep: this file was not written by one"};
    if (!parsed) return Error{EINVAL, "it is not JSON", "check the container runtime's state directory"};
    for (const auto& [value, name] :
         {std::pair{&sax.found.pod, "the pod's name"}, std::pair{&sax.found.namespace_, "the pod's namespace"},
          std::pair{&sax.found.container, "the container's name"}})
        if (value->empty())
            return Error{EINVAL, std::string("its annotations do not give ") + name,
                         "a container started by the kubelet through containerd or CRI-O has them"};
    return sax.found;
}

}  // namespace dtrack::cli::sidecar
