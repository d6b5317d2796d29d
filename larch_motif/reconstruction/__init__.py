"""XANES reconstruction: structural parameters in, theoretical spectrum out (a fast surrogate of
FEFF10), with TreeSHAP on every energy point and a fit of the parameters to a measured spectrum.

Training data, both from the project's own FEFF10 pipeline:

- a parametric series (``larch_motif.parametric``): a reference site distorted on a design; the
  parameters are ``bond_mean_A``, ``axial_elongation_A``, ``angle_bending_deg`` and
  ``second_shell_shift_A``;
- the structure database: site descriptors ``cn``, ``motif``, ``ligands``, ``oxidation_state``,
  ``bond_mean_A``, ``bond_std_A``, ``angle_std_deg`` against the site spectra (sites without a
  bond-valence oxidation state are left out).

Spectra are what the classifiers see: FEFF10 mu broadened and normalized by Larch
(``spectra.theory_group``) on ``Preprocessing.grid()`` (eV relative to E0 at half the edge
step). ``SpectrumReconstructor`` (scikit-learn contract) predicts the coefficients of a principal
component basis of the training spectra with one tree regressor per coefficient (rf: one
multi-output forest) from a backend of the hook layer; ``n_components=None`` predicts every
energy point directly instead. SHAP values of the coefficients map linearly onto the energy axis,
so the SHAP value of a parameter at each energy adds up exactly to the reconstructed spectrum.

R-factor, as in Larch's XANES fits: ``sum((mu_model - mu_ref)**2) / sum(mu_ref**2)`` over the
energy grid.

The package is split by job: ``model`` (estimator, model, model file), ``data`` (training data,
training, default models, ``reconstruct``), ``explain`` (SHAP on the energy axis) and ``fit``
(parameters fitted to a measured spectrum). Everything public is importable from here.
"""

from larch_motif.reconstruction.data import (
    ReconstructionSet,
    _resolve,
    database_set,
    default_reconstruction_model,
    parametric_set,
    reconstruct,
    spectra_matrix,
    train_reconstruction,
)
from larch_motif.reconstruction.explain import explain_reconstruction, plot_explanation
from larch_motif.reconstruction.fit import fit_structure, plot_fit
from larch_motif.reconstruction.model import (
    DATABASE_PARAMETERS,
    DEFAULT_BACKEND,
    DEFAULT_COMPONENTS,
    RECONSTRUCTION_FORMAT,
    RECONSTRUCTION_FORMAT_VERSION,
    Parameter,
    ReconstructionModel,
    SpectrumReconstructor,
    load_reconstruction_model,
    r_factor,
)

__all__ = [
    "DATABASE_PARAMETERS", "DEFAULT_BACKEND", "DEFAULT_COMPONENTS", "RECONSTRUCTION_FORMAT",
    "RECONSTRUCTION_FORMAT_VERSION", "Parameter", "ReconstructionModel", "ReconstructionSet",
    "SpectrumReconstructor", "_resolve", "database_set", "default_reconstruction_model",
    "explain_reconstruction", "fit_structure", "load_reconstruction_model", "parametric_set",
    "plot_explanation", "plot_fit", "r_factor", "reconstruct", "spectra_matrix", "train_reconstruction",
]
