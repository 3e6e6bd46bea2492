"""quadnet.validation -- finite-size simulators, theory-vs-simulation comparisons, plots and the CLI."""
