"""Demo wiring: the only place that starts a simulated exchange for the engine."""

from __future__ import annotations

from collections.abc import Sequence

from loguru import logger

from scalp_radar.engine.runner import Simulator, SimulatorFactory


def simulator_factory(speed: float = 1.0) -> SimulatorFactory:
    """A factory that starts the simulator on 127.0.0.1 (any free port) for the given symbols."""

    async def start(symbols: Sequence[str]) -> Simulator:
        from scalp_radar.sim import SimExchange

        sim = SimExchange(symbols=list(symbols), speed=speed, port=0)
        await sim.start()
        logger.warning("DEMO: simulated market at {} — prices are not real", sim.url)
        return sim

    return start
