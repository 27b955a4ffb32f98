"""deweight: training-set composition bias in classifier probabilities.

Reference: Lake, S. E. & Tsai, C.-W. (2022), "An Exploration of How Training Set
Composition Bias in Machine Learning Affects Identifying Rare Objects".
"""

__version__ = "0.1.0"
