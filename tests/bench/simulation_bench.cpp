// How long `dtrack simulate` takes for a 1 TiB guest (the model is analytic:
// the time should not grow with the guest's size). Both columns, as the CLI
// runs them: with the background sync and without, auto-converge on.
#include <benchmark/benchmark.h>

#include "dtrack/precopy/guest_model.hpp"
#include "dtrack/precopy/simulation.hpp"

namespace {

using namespace dtrack::precopy;

void BM_Simulate1TiBWithAndWithoutBackgroundSync(benchmark::State& state) {
    auto model = parse_guest_model("mem=1T,vcpus=128,wss=800G,rate=20G");
    for (auto _ : state) {
        for (bool background : {true, false}) {
            ModelGuest guest(*model);
            SimulationOptions o{.bandwidth = 10ULL << 30, .auto_converge = true};
            if (background) o.background_sync = std::chrono::milliseconds(5000);
            benchmark::DoNotOptimize(simulate_precopy(guest, o).total_s);
        }
    }
}
BENCHMARK(BM_Simulate1TiBWithAndWithoutBackgroundSync)->Unit(benchmark::kMillisecond);

}  // namespace
