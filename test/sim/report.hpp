// The experiments' results as markdown tables (docs/SIMULATION.md).
#pragma once

#include "experiment.hpp"

#include <ostream>
#include <vector>

namespace partisan::sim {

// The parameters every run shares (those of the first result).
void write_setup(std::ostream& out, const ExperimentConfig& config);
// One seed's results in full.
void write_markdown(std::ostream& out, const ExperimentResult& result);
// The headline figures, one row per seed.
void write_summary(std::ostream& out, const std::vector<ExperimentResult>& results);

}  // namespace partisan::sim
