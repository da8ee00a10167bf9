"""The run layer below `engine`, `kd` and the evaluations: typed settings and their
resolution into a run's config (`settings`, `config`), run directories (`rundir`), the
errors that end a command with one line (`errors`) and the losses shared by training and
distillation (`losses`). Imports only nets, preprocessing and datasets."""
