"""The actor core: project grains hosted inside `ProjectHost` Ray actors.

- `grain.ProjectGrain`: one project's hot state, mailbox and group commit.
- `host.ProjectHost`: a Ray actor hosting many grains (activation, passivation).
- `placement.host_for`: rendezvous hashing of a project onto a host name.
- `router.HostRouter`: what a Serve replica uses to reach a project's grain.
"""
