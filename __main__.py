"""The Pulumi program: load the stack config, build its target, export the outputs."""

import pulumi

import stacks
from stacks.loading import load

outputs = stacks.build(load(pulumi.Config()))
for name, value in outputs.exports().items():
    pulumi.export(name, value)
