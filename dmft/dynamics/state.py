r"""Full mutable state of one DMFT run (everything needed to continue it bit-for-bit).

Shapes (Ns samples, nb = Ns * probes, T steps, d = d_eff):

* ``Sstar`` (Ns, d, d) teachers; ``S`` (Ns, d, d) current S^k;
* ``Dh`` (Ns, T+1, d, d) D^k = S^k - S*; ``Ph``, ``SPh`` (Ns, T, d, d) P_k and S^k P_k; ``Gam`` (Ns, T+1, d, d)
  GOE innovations Gamma^k;
* ``CSs``, ``RSs`` (Ns, T+1, T+1) per-sample rows of C_S and (probe-averaged) R_S (lower triangle);
* ``CS``, ``RS``, ``B``, ``Ce``, ``L`` (T+1, T+1) population-averaged kernels, B = (I - K)^{-1},
  L the causal Cholesky factor of C_e;
* ``RSeq_h`` (nb, T+1) raw Hutchinson estimates of R_S(k, k-1); ``RSeq_x`` (Ns, T+1) exact per-sample values;
* ``k`` the next step to process; ``rng_noise``, ``rng_probe`` the two random streams.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

import numpy as np


@dataclass
class SolverState:
    k: int
    Sstar: np.ndarray
    S: np.ndarray
    Dh: np.ndarray
    Ph: np.ndarray
    SPh: np.ndarray
    Gam: np.ndarray
    CSs: np.ndarray
    RSs: np.ndarray
    CS: np.ndarray
    RS: np.ndarray
    B: np.ndarray
    Ce: np.ndarray
    L: np.ndarray
    RSeq_h: np.ndarray
    RSeq_x: np.ndarray
    rng_noise: np.random.Generator
    rng_probe: np.random.Generator

    @classmethod
    def empty(cls, Sstar: np.ndarray, S0: np.ndarray, T: int, probes: int,
              rng_noise: np.random.Generator, rng_probe: np.random.Generator) -> SolverState:
        ns, d, _ = Sstar.shape
        z = np.zeros
        return cls(k=0, Sstar=Sstar, S=S0.copy(), Dh=z((ns, T + 1, d, d)), Ph=z((ns, T, d, d)),
                   SPh=z((ns, T, d, d)), Gam=z((ns, T + 1, d, d)), CSs=z((ns, T + 1, T + 1)),
                   RSs=z((ns, T + 1, T + 1)), CS=z((T + 1, T + 1)), RS=z((T + 1, T + 1)), B=np.eye(T + 1),
                   Ce=z((T + 1, T + 1)), L=z((T + 1, T + 1)), RSeq_h=z((ns * probes, T + 1)),
                   RSeq_x=z((ns, T + 1)), rng_noise=rng_noise, rng_probe=rng_probe)

    @property
    def steps(self) -> int:
        """T of the arrays (grid k = 0..T)."""
        return self.CS.shape[0] - 1

    def resized(self, T: int) -> SolverState:
        """Copy with arrays for a longer grid k = 0..T (T >= self.steps), rows/columns beyond the old T zero
        (B: identity). The computed part is copied unchanged, so continuing from it is bitwise identical to a run
        started with T steps (every row k only uses times <= k)."""
        T0 = self.steps
        if T < T0:
            raise ValueError(f"cannot shrink a solver state from T = {T0} to T = {T}")
        ns, d, _ = self.Sstar.shape
        new = SolverState.empty(self.Sstar, self.S, T, self.RSeq_h.shape[0] // ns, self.rng_noise, self.rng_probe)
        new.k = self.k
        for name in ("Dh", "Gam", "CSs", "RSs", "RSeq_h", "RSeq_x"):
            a = getattr(self, name)
            getattr(new, name)[(slice(None),) + tuple(slice(0, n) for n in a.shape[1:])] = a
        for name in ("Ph", "SPh"):
            getattr(new, name)[:, :T0] = getattr(self, name)
        for name in ("CS", "RS", "B", "Ce", "L"):
            getattr(new, name)[:T0 + 1, :T0 + 1] = getattr(self, name)
        return new

    # -- (de)serialisation for checkpoints: arrays + JSON text of the bit-generator states ----------------
    def to_mapping(self) -> dict:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.random.Generator):
                out[f.name] = json.dumps(v.bit_generator.state)
            else:
                out[f.name] = v
        return out

    @classmethod
    def from_mapping(cls, m: dict) -> SolverState:
        kw = {}
        for f in fields(cls):
            v = m[f.name]
            if f.name.startswith("rng_"):
                st = json.loads(v)
                bg = getattr(np.random, st["bit_generator"])()
                bg.state = st
                v = np.random.Generator(bg)
            elif f.name == "k":
                v = int(v)
            else:
                v = np.ascontiguousarray(v, dtype=float)
            kw[f.name] = v
        return cls(**kw)
