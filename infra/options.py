"""Resource options shared by the components."""

from __future__ import annotations

import pulumi


def child_options(
    parent: pulumi.Resource, opts: pulumi.ResourceOptions | None
) -> pulumi.ResourceOptions:
    """Parented to the component, and waiting on whatever the component was told to wait on:
    a component's own `depends_on` does not hold back the children it creates."""
    return pulumi.ResourceOptions(parent=parent, depends_on=opts.depends_on if opts else None)
