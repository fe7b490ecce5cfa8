"""The benchmarks behind ``gridmap bench``: ratios against anchors measured in the same run."""
