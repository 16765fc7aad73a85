"""Running the kit: notebook execution (papermill, kernel, HTML export), the batch runner and the CLI.

In: a params file and command-line flags. Out: ``outputs/<date>/<region>/`` per chain, the roll-up and the index.
"""
