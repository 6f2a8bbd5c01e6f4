"""Quality evaluation on public benchmarks: `make eval`. Reports go to eval/results/."""
