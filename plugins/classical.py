"""Classical reducers from scikit-learn (and UMAP from umap-learn, an optional extra), as one-call model plugins.

They go through the same runs, metrics, reporters and comparisons as the autoencoders. PCA and kernel PCA are
saved as model files (their fitted state as torch buffers); Isomap, t-SNE and UMAP, whose fitted state is the
training set and its graph, are kept in memory only.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from dimred.plugin import EstimatorModel, UsageError, hookimpl, import_extra, option


class _ScikitLearnModel(EstimatorModel):
    """Wraps an estimator built by ``make``; its fitted state lives on the plugin instance."""

    # the option that must stay below the number of rows (a neighbourhood's size), where there is one
    neighbourhood_option: ClassVar[str | None] = None
    least_neighbourhood: ClassVar[int] = 1  # the smallest value its options take
    # Methods whose codes do not depend on the rows' scale (t-SNE's, UMAP's: their neighbourhoods are calibrated
    # per row) or scale with it (Isomap's distances) see rows far from unit scale (beyond 2^+-UNIT_SCALE_BITS, with
    # --scaler none) multiplied by a power of two, which changes no ratio: scikit-learn's t-SNE had crashed the
    # process on rows near 1e-25 and embedded rows near 1e20 as noise, Isomap failed on rows near 1e160 and
    # umap-learn's inverse was 1e8 times off on rows near 1e-10.
    scale_free: ClassVar[bool] = False
    codes_scale_with_rows: ClassVar[bool] = False
    shift = 0  # the power of two the fitted rows were multiplied by

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.make(0)  # its library imported now (a second, the first time): a fit's seconds are the fit's own

    def make(self, seed: int) -> Any:
        raise NotImplementedError

    def fit_transform(self, X: np.ndarray, seed: int) -> np.ndarray:
        self._check_rows(len(X))
        self.estimator = self.make(seed)
        self.shift = _shift_towards_unit(X) if self.scale_free or self.codes_scale_with_rows else 0
        with _torch_threads_kept():
            return self._codes_unscaled(self.estimator.fit_transform(_times_power_of_two(X, self.shift)))

    def transform(self, X: np.ndarray) -> np.ndarray:
        with _torch_threads_kept():
            return self._codes_unscaled(self.estimator.transform(_times_power_of_two(X, self.shift)))

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        codes = _times_power_of_two(Z, self.shift) if self.codes_scale_with_rows else Z
        with _torch_threads_kept():
            return _times_power_of_two(self.estimator.inverse_transform(codes), -self.shift)

    def _codes_unscaled(self, codes: np.ndarray) -> np.ndarray:
        return _times_power_of_two(codes, -self.shift) if self.codes_scale_with_rows else codes

    def _check_rows(self, n_rows: int) -> None:
        option_name = self.neighbourhood_option
        value = None if option_name is None else getattr(self.options, option_name)
        if value is not None and value >= n_rows:
            lower = max(self.least_neighbourhood, (n_rows - 1) // 3)
            advice = f"lower it, e.g. --set model.{option_name}={lower}" if lower < n_rows else "give more rows"
            raise UsageError(f"model '{self.name}' needs more rows than its {option_name} ({value:g}), got {n_rows} "
                             f"to train on; {advice}")  # fmt: skip


UNIT_SCALE_BITS = 20  # rows whose largest magnitude lies within 2^-20 to 2^20 (about 1e-6 to 1e6) are left as given


def _shift_towards_unit(X: np.ndarray) -> int:
    """The power of two that brings the rows' largest magnitude near 1, where it lies beyond 2^+-UNIT_SCALE_BITS;
    else 0 (ordinary rows, the default scaler's among them, are fitted exactly as given)."""
    largest = float(np.abs(X).max()) if X.size else 0.0
    exponent = math.frexp(largest)[1] if math.isfinite(largest) else 0
    return -exponent if abs(exponent) > UNIT_SCALE_BITS else 0


def _times_power_of_two(values: np.ndarray, shift: int) -> np.ndarray:
    """``values`` times 2^shift, exactly, in float64 (umap-learn's inverse is float32, whose range 2^shift may
    leave); the values themselves where shift is 0."""
    return np.ldexp(np.asarray(values, dtype=np.float64), shift) if shift else values


@contextlib.contextmanager
def _torch_threads_kept() -> Iterator[None]:
    """torch's thread count put back after a library call. umap-learn's numba, where its OpenMP thread pool first
    starts, sets the calling thread's count to its own in the OpenMP runtime torch loaded too: torch in that
    thread then computed on another number of threads than in new threads, or than the caller had set, and the
    same seed trained other weights."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class _Components:
    n_components: int = option(2, "size of the code (the reduced dimension)")

    def __post_init__(self) -> None:  # scikit-learn would refuse them only when fitting, in its own words
        if self.n_components < 1:
            raise ValueError(f"n_components must be at least 1, got {self.n_components}")

    @staticmethod
    def check_at_least(name: str, value: float, low: float, *, above: bool = False) -> None:
        if value < low or (above and value == low):
            raise ValueError(f"{name} must be {'above' if above else 'at least'} {low:g}, got {value:g}")


class PCAModel(_ScikitLearnModel):
    name = "pca"
    description = "principal component analysis (scikit-learn): linear, with transform and inverse"
    Options = _Components
    # rows near 1e-160 (--scaler none) had a covariance that underflowed: whole columns for components, exit 0
    codes_scale_with_rows = True

    def make(self, seed: int) -> Any:
        from sklearn.decomposition import PCA

        return PCA(n_components=self.options.n_components, random_state=seed)

    def fit_transform(self, X: np.ndarray, seed: int) -> np.ndarray:
        most = min(X.shape)
        if self.options.n_components > most:  # scikit-learn's own refusal would read as the plugin's failure
            raise UsageError(f"model '{self.name}' makes at most as many components as the data has rows or "
                             f"columns, whichever are fewer ({X.shape[0]} x {X.shape[1]}: {most}), got "
                             f"n_components={self.options.n_components}; lower it")  # fmt: skip
        return super().fit_transform(X, seed)

    def build(self, n_features: int):
        """The linear map of a fitted PCA as a torch module (zeros until its state is loaded)."""
        return _linear_projection(n_features, self.options.n_components)

    def fitted_module(self):
        import torch

        module = self.build(len(self.estimator.mean_))
        module.mean.copy_(torch.from_numpy(_times_power_of_two(self.estimator.mean_, -self.shift)))
        module.components.copy_(torch.from_numpy(self.estimator.components_))
        return module


def _linear_projection(n_features: int, n_components: int):
    """encode(x) = (x - mean) @ components.T and decode(z) = z @ components + mean, scikit-learn's PCA
    transform and inverse_transform (without whitening); defined here so listing plugins does not import torch."""
    import torch

    class LinearProjection(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))
            self.register_buffer("components", torch.zeros(n_components, n_features, dtype=torch.float64))

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            return (x - self.mean) @ self.components.T

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return z @ self.components + self.mean

    return LinearProjection()


ARPACK_COMPONENTS = 10  # scikit-learn's own limit for it


# gamma times the median squared distance to the nearest neighbour: above, that kernel value is below e^-5 (0.007)
NEAR_IDENTITY = 5.0


class KernelPCAModel(_ScikitLearnModel):
    name = "kernel-pca"
    description = "RBF kernel PCA (scikit-learn), with a learned approximate inverse; memory grows as landmarks^2"

    @dataclass(frozen=True)
    class Options(_Components):
        gamma: float = option(10.0, "RBF kernel width parameter (for data scaled to [0, 1])")
        landmarks: int = option(2000, "fit on at most this many rows (a seeded sample beyond); its memory grows as "
                                      "their square, and the saved model holds them")  # fmt: skip

        def __post_init__(self) -> None:
            super().__post_init__()
            if not self.gamma > 0:
                raise ValueError(f"gamma must be positive, got {self.gamma:g}")
            if self.landmarks < 2:
                raise ValueError(f"landmarks must be at least 2, got {self.landmarks}")

    def make(self, seed: int) -> Any:
        from sklearn.decomposition import KernelPCA

        return KernelPCA(self.options.n_components, kernel="rbf", gamma=self.options.gamma,
                         fit_inverse_transform=True, random_state=seed)  # fmt: skip

    def fit_transform(self, X: np.ndarray, seed: int) -> np.ndarray:
        fitted_rows = min(len(X), self.options.landmarks)
        if self.options.n_components > fitted_rows:  # scikit-learn would give fewer components than asked for
            raise UsageError(f"model '{self.name}' makes at most as many components as the rows it fits on "
                             f"({fitted_rows}: the training rows, at most its landmarks), got n_components="
                             f"{self.options.n_components}; lower it, or raise model.landmarks")  # fmt: skip
        # ARPACK for a few components, as scikit-learn chooses it itself from 200 rows: scipy's dense solver (1.17)
        # returns no eigenvalues where the largest are all equal, as for wide rows under a narrow kernel (nearly the
        # identity); for many components ARPACK takes several times as long
        solver = "arpack" if self.options.n_components < min(ARPACK_COMPONENTS, fitted_rows - 1) else "dense"
        self.estimator = self.make(seed).set_params(eigen_solver=solver)
        fitted = X
        if len(X) > self.options.landmarks:
            fitted = X[np.sort(np.random.default_rng(seed).choice(len(X), self.options.landmarks, replace=False))]
        self._check_kernel_width(fitted)
        return self.estimator.fit(fitted).transform(X) if fitted is not X else self.estimator.fit_transform(X)

    def _check_kernel_width(self, X: np.ndarray) -> None:
        """A gamma far too large for the rows' scale (data not scaled to [0, 1], or many columns) leaves each row's
        kernel value to its nearest neighbour near 0: the kernel is nearly the identity and the codes say little
        (standardised Gaussian rows: trustworthiness 0.51, against 0.71 scaled to [0, 1]), a warning; at 0 in
        float64 it is the identity, whose codes say nothing (gamma=1e300 had failed as the plugin's fault)."""
        from sklearn.neighbors import NearestNeighbors

        distances = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)[0][:, 1]
        nearest = float(np.median(distances**2))
        if self.options.gamma * nearest <= NEAR_IDENTITY:
            return
        scaled = X.min() >= 0 and X.max() <= 1  # already as --scaler minmax leaves them: no use saying it
        value = np.exp(-self.options.gamma * nearest)
        kernel = ("nearly the identity and the codes say little" if value else
                  "the identity and the codes would say nothing")  # fmt: skip
        said = (f"model '{self.name}': with gamma={self.options.gamma:g} a row's RBF kernel value to its nearest "
                f"neighbour is {f'about {value:.1g}' if value else '0'} on these rows: the kernel is {kernel}; lower "
                f"model.gamma (about {1 / nearest:.3g} here)"
                + ("" if scaled else " or scale the data to [0, 1] (--scaler minmax, scaler='minmax')"))  # fmt: skip
        if not value:
            raise UsageError(said)
        warnings.warn(said, stacklevel=2)

    def build(self, n_features: int):
        """The fitted kernel PCA as a torch module with room for ``landmarks`` rows (zeros until loaded)."""
        return _kernel_projection(n_features, self.options)

    def fitted_module(self):
        """scikit-learn's fitted state in the module, the rows beyond the landmarks used masked out."""
        import torch

        fitted = self.estimator
        rows = len(fitted.X_fit_)
        scaled = np.zeros_like(fitted.eigenvectors_)
        kept = np.flatnonzero(fitted.eigenvalues_)
        scaled[:, kept] = fitted.eigenvectors_[:, kept] / np.sqrt(fitted.eigenvalues_[kept])
        module = self.build(fitted.X_fit_.shape[1])
        from sklearn.metrics.pairwise import rbf_kernel

        gram = rbf_kernel(fitted.X_fit_, gamma=self.options.gamma)  # the centring terms scikit-learn keeps privately
        state = {"landmarks": fitted.X_fit_, "mask": np.ones(rows), "alphas": scaled, "column_means": gram.mean(0),
                 "overall_mean": np.array([gram.mean()]), "codes": fitted.X_transformed_fit_,
                 "dual_coef": fitted.dual_coef_}  # fmt: skip
        for name, values in state.items():
            getattr(module, name)[: len(values)] = torch.from_numpy(np.asarray(values, dtype=np.float64))
        return module


def _kernel_projection(n_features: int, options: Any):
    """encode(x) = centred k(x, landmarks) @ alphas and decode(z) = k(z, codes) @ dual_coef, with
    k(a, b) = exp(-gamma |a - b|^2): scikit-learn's KernelPCA transform and inverse_transform. Rows of the
    buffers past the fitted ones are masked out, so the module's size depends on its options alone."""
    import torch

    size, components = options.landmarks, options.n_components

    class KernelProjection(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for name, shape in (("landmarks", (size, n_features)), ("mask", (size,)), ("alphas", (size, components)),
                                ("column_means", (size,)), ("overall_mean", (1,)), ("codes", (size, components)),
                                ("dual_coef", (size, n_features))):  # fmt: skip
                self.register_buffer(name, torch.zeros(shape, dtype=torch.float64))

        def kernel(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.exp(-options.gamma * torch.cdist(a, b).square()) * self.mask

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            K = self.kernel(x, self.landmarks)
            centred = K - self.column_means - K.sum(dim=1, keepdim=True) / self.mask.sum() + self.overall_mean
            return centred @ self.alphas

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return self.kernel(z, self.codes) @ self.dual_coef

    return KernelProjection()


class IsomapModel(_ScikitLearnModel):
    name = "isomap"
    description = "Isomap (scikit-learn): geodesic distances on a kNN graph; no inverse; memory grows as n^2"
    can_inverse_transform = False
    neighbourhood_option = "n_neighbors"
    codes_scale_with_rows = True

    @dataclass(frozen=True)
    class Options(_Components):
        n_components: int = option(2, "size of the code")
        n_neighbors: int = option(10, "neighbours in the graph")

        def __post_init__(self) -> None:
            super().__post_init__()
            self.check_at_least("n_neighbors", self.n_neighbors, 1)

    def make(self, seed: int) -> Any:
        from sklearn.manifold import Isomap

        return Isomap(n_neighbors=self.options.n_neighbors, n_components=self.options.n_components)

    def fit_transform(self, X: np.ndarray, seed: int) -> np.ndarray:
        from scipy.sparse import SparseEfficiencyWarning

        with warnings.catch_warnings(), _numpy_seeded(seed):  # scipy's, once per component of a graph of few rows
            warnings.simplefilter("ignore", SparseEfficiencyWarning)
            try:
                return super().fit_transform(X, seed)
            except ValueError as error:
                if "negative eigenvalues" not in str(error):
                    raise
                raise UsageError(f"model 'isomap' cannot make {self.options.n_components} components of these "
                                 f"{len(X)} rows: their geodesic distances hold fewer (scikit-learn: {error}); "
                                 "lower model.n_components") from None  # fmt: skip


_GLOBAL_GENERATOR = threading.Lock()  # numpy's, which _numpy_seeded seeds and puts back


@contextlib.contextmanager
def _numpy_seeded(seed: int) -> Iterator[None]:
    """numpy's global generator seeded with the run's seed, and then as the caller had it: scikit-learn's Isomap
    takes no random_state, and its eigensolver (ARPACK, beyond 200 rows) starts from that generator's draw, so a
    seed gave codes that differed in their last bits with the caller's state, which the fit moved on."""
    with _GLOBAL_GENERATOR:  # fits in threads (a threading GridSearchCV) take it in turn
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


class TSNEModel(_ScikitLearnModel):
    name = "tsne"
    description = "t-SNE (scikit-learn): embeds the training points only; no transform, no inverse"
    can_transform = False
    can_inverse_transform = False
    neighbourhood_option = "perplexity"
    scale_free = True

    @dataclass(frozen=True)
    class Options(_Components):
        n_components: int = option(2, "size of the code")
        perplexity: float = option(30.0, "effective number of neighbours")

        def __post_init__(self) -> None:
            super().__post_init__()
            self.check_at_least("perplexity", self.perplexity, 0, above=True)
            if self.n_components > 3:  # scikit-learn's Barnes-Hut t-SNE, the one it runs
                raise ValueError(f"n_components must be at most 3 for t-SNE, got {self.n_components}")

    def make(self, seed: int) -> Any:
        from sklearn.manifold import TSNE

        return TSNE(self.options.n_components, perplexity=self.options.perplexity, random_state=seed, init="pca")


MAX_INVERTED_COMPONENTS = 5  # umap's codes of more values are not mapped back (no reconstruction figures)


class UMAPModel(_ScikitLearnModel):
    name = "umap"
    description = "UMAP (umap-learn; dimred[umap]): with transform and an approximate inverse"
    scale_free = True
    neighbourhood_option = "n_neighbors"  # umap-learn would truncate it with a warning, and say so at each transform
    least_neighbourhood = 2

    @dataclass(frozen=True)
    class Options(_Components):
        n_components: int = option(2, "size of the code")
        n_neighbors: int = option(15, "neighbours in the fuzzy graph")
        min_dist: float = option(0.1, "how tightly points may pack in the embedding")

        def __post_init__(self) -> None:
            super().__post_init__()
            self.check_at_least("n_neighbors", self.n_neighbors, 2)
            self.check_at_least("min_dist", self.min_dist, 0)
            if self.min_dist > 1:  # at most umap-learn's spread, which dimred leaves at 1
                raise ValueError(f"min_dist must be at most 1 (UMAP's spread), got {self.min_dist:g}")

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        # umap-learn inverts codes of two values or more only (one failed the whole run), and its inverse's
        # triangulation grows with their number: five took a 600-row run from 26 s (four) to 47 s, six past minutes
        self.can_inverse_transform = 2 <= self.options.n_components <= MAX_INVERTED_COMPONENTS

    def _check_rows(self, n_rows: int) -> None:
        if n_rows <= self.options.n_components + 1:  # its spectral start: scipy's error, in its words, before
            raise UsageError(f"model '{self.name}' needs more rows than n_components + 1 "
                             f"({self.options.n_components + 1}) to start its embedding, got {n_rows} to train on; "
                             "lower model.n_components or give more rows")  # fmt: skip
        super()._check_rows(n_rows)

    def make(self, seed: int) -> Any:
        umap = import_extra("umap", needed_by="model 'umap'", extra="umap", distribution="umap-learn")
        # one job, as a seed makes umap-learn run anyway (it warned of that on every fit)
        return umap.UMAP(n_components=self.options.n_components, n_neighbors=self.options.n_neighbors,
                         min_dist=self.options.min_dist, random_state=seed, n_jobs=1)  # fmt: skip


@hookimpl
def register_models(register):
    for model in (PCAModel, KernelPCAModel, IsomapModel, TSNEModel, UMAPModel):
        register(model)
