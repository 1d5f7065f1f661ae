"""`agents.subagents` and `agents.list[].subagents`: OpenClaw's limits on `sessions_spawn`.

    agents:
      subagents: {maxSpawnDepth: 1, maxChildrenPerAgent: 5, runTimeoutSeconds: 120, maxTokens: 1024,
                  maxTotalTokens: 32000}
      list:
        - id: main
          subagents: {allowAgents: [researcher]}   # "*": any agent; unset: only itself

A spawned child runs one turn in its own session `agent:<agentId>:subagent:<uuid>` and its answer
goes back into the parent's turn; it never gets a tool its parent's policy refuses.
"""

from __future__ import annotations

from pydantic import Field

from rustyclaw.config.base import Section


class SubagentsConfig(Section):
    # 1: the agent a user talks to may spawn; a child may not spawn further (OpenClaw's default).
    max_spawn_depth: int = Field(1, ge=0, le=5)
    # Children one session may have running at once.
    max_children_per_agent: int = Field(5, ge=1, le=50)
    # The longest a child's turn may run; the parent's own turn deadline bounds it too.
    run_timeout_seconds: float = Field(120.0, gt=0)
    # The completion-token cap of each of the child's model calls.
    max_tokens: int = Field(1024, ge=1)
    # A child run's whole budget: prompt + completion tokens summed over all its model calls (tool
    # steps included, as the model's `usage` reports them). Reached, the child stops after that step
    # and the parent gets status "token_budget" with what the child produced so far. RustyClaw's own
    # key: OpenClaw bounds a child by time only.
    max_total_tokens: int = Field(32000, ge=1)


class AgentSubagentsConfig(Section):
    """Which agents this one may spawn: ids, or "*" for any; None: only itself."""

    allow_agents: list[str] | None = None
