"""The one table of plugin kinds. The hooks, the base classes' lookup, the ``--set`` grammar, the CLI's headings
and the config file's sections are all derived from it: a new kind is one row here and one base class."""

from __future__ import annotations

from dataclasses import dataclass

from dimred._core.contracts import Callback, Dataset, Loss, Metric, Model, Plugin, Reporter


@dataclass(frozen=True)
class Kind:
    """One kind of plugin. ``several``: a run may use several plugins of this kind, so their options are set as
    ``KIND.NAME.OPTION`` (``KIND.OPTION`` for the single kinds)."""

    name: str
    plural: str
    base: type[Plugin]
    several: bool
    section: str  # its key in a config file
    required: tuple[str, ...]  # the methods of ``base`` a plugin of this kind must define

    @property
    def hook(self) -> str:
        return f"register_{self.plural}"

    @property
    def setting_grammar(self) -> str:
        return f"{self.name}.NAME.OPTION" if self.several else f"{self.name}.OPTION"


KINDS: tuple[Kind, ...] = (
    Kind("dataset", "datasets", Dataset, several=False, section="dataset", required=("load",)),
    Kind("model", "models", Model, several=False, section="model", required=("build",)),
    Kind("loss", "losses", Loss, several=True, section="loss", required=("__call__",)),
    Kind("metric", "metrics", Metric, several=True, section="metrics", required=("compute",)),
    Kind("reporter", "reporters", Reporter, several=True, section="reporters", required=("report",)),
    Kind("callback", "callbacks", Callback, several=True, section="callbacks", required=()),
)
KIND: dict[str, Kind] = {kind.name: kind for kind in KINDS}
KIND_NAMES: tuple[str, ...] = tuple(KIND)
