#include "dtrack/convergence_trigger.hpp"

#include <utility>

namespace dtrack {

ConvergenceJudgement ConvergenceTrigger::on_period(const Period& period) {
    if (!period_open_) {
        period_open_ = true;
        period_start_ = period.at;
        dirtied_ = transferred_ = 0;
        return {};
    }
    dirtied_ += period.bytes_dirtied;
    transferred_ += period.bytes_transferred;
    if (period.at - period_start_ < options_.min_period) return {};  // too short to judge

    ConvergenceJudgement j;
    j.judged = true;
    j.dirtied = std::exchange(dirtied_, 0);
    j.threshold = std::exchange(transferred_, 0) * options_.trigger_pct / 100;
    period_start_ = period.at;
    j.high = j.dirtied > j.threshold;
    if (j.high && ++high_periods_ >= 2) {
        high_periods_ = 0;
        j.fired = true;
    }
    return j;
}

void ConvergenceTrigger::reset() {
    high_periods_ = 0;
    period_open_ = false;
    dirtied_ = transferred_ = 0;
}

}  // namespace dtrack
