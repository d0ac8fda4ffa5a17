"""ROADEF/EURO Challenge 2012 (Google machine reassignment): reader, independent evaluator, a
local-search solver and the runner that compares it with the challenge's best published results.

The package never reads the shared data folder on its own: the runner takes it as an argument.
"""
