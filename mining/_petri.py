"""Compile a process model to a pm4py Petri net (a workflow net) with its markings.

The net is a state machine with one visible transition per step and silent routing
transitions, so every step's label is unique and pm4py's token replay, alignments and
visualisation work on it as on any discovered net::

    source ─τ─▶ [ready S0] ─S0─▶ [done S0] ─τ─▶ [ready S1] ─S1─▶ [done S1] ─τ─▶ sink
                                          └─τ─▶ sink           (one τ per allowed route)

- ``ready S`` holds the case's token while step ``S`` is due; ``done S`` after it ran.
- ``route A -> B`` (silent) moves the token from ``done A`` to ``ready B`` for every
  allowed transition, ``finish A`` (silent) from ``done A`` to ``sink`` for every end step.
- The initial marking is one token in ``source``; the final marking one token in ``sink``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mining._pm4py import load_pm4py

if TYPE_CHECKING:
    from mining._process_model import ProcessModel


def compile_petri_net(model: ProcessModel) -> tuple[Any, Any, Any]:
    """``(net, initial_marking, final_marking)`` as pm4py ``PetriNet`` and ``Marking`` objects."""
    load_pm4py()
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.petri_net.utils.petri_utils import add_arc_from_to

    net = PetriNet(f"{model.workflow} v{model.version}")
    source, sink = PetriNet.Place("source"), PetriNet.Place("sink")
    net.places.update((source, sink))
    ready = {step: PetriNet.Place(f"ready {step}") for step in model.steps}
    done = {step: PetriNet.Place(f"done {step}") for step in model.steps}
    net.places.update(ready.values())
    net.places.update(done.values())

    def transition(name: str, label: str | None, src: Any, dst: Any) -> None:
        node = PetriNet.Transition(name, label)
        net.transitions.add(node)
        add_arc_from_to(src, node, net)
        add_arc_from_to(node, dst, net)

    transition(f"start {model.start}", None, source, ready[model.start])
    for step in model.steps:
        transition(step, step, ready[step], done[step])
    for a, b in sorted(model.transitions):
        transition(f"route {a} -> {b}", None, done[a], ready[b])
    for step in sorted(model.end_steps):
        transition(f"finish {step}", None, done[step], sink)
    return net, Marking({source: 1}), Marking({sink: 1})
