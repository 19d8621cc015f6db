// The metrics a scrape returns, as data: families of samples with labels.
// The registry (metrics_registry.hpp) fills them; exposition_format.hpp
// writes them out in the format the scraper asked for.
#pragma once

#include <string>
#include <vector>

namespace dtrack::cli::sidecar {

enum class MetricType {
    counter,  // only grows; its samples are written NAME_total
    gauge,
    info,  // a constant 1 whose labels are the information; samples are written NAME_info
};

struct Label {
    std::string name;
    std::string value;
};

struct MetricSample {
    std::vector<Label> labels;
    double value = 0;
};

struct MetricFamily {
    // The family's name without the suffix its type adds (_total, _info):
    // "dtrack_dirty_pages" for the counter dtrack_dirty_pages_total.
    std::string name;
    MetricType type = MetricType::gauge;
    std::string help;
    std::vector<MetricSample> samples;  // none: the family is described but has no series now
};

}  // namespace dtrack::cli::sidecar
