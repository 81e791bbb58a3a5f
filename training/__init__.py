"""Commands that reproduce what the assistant has learnt (see training/README.md).

Never imported by the assistant at run time: these read the training data under
../shared/train/ and write the files the package ships.
"""
