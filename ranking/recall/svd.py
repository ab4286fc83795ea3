"""The truncated SVD that dense text embeddings and homepage item vectors share.

``truncated_svd`` runs the randomized SVD and the sign convention of scikit-learn's
``TruncatedSVD`` (``algorithm="randomized"``, five power iterations, ten oversamples), so it
returns the same components, without the explained-variance ratio ``TruncatedSVD.fit``
computes and nothing here reads. That ratio is 0 / 0 on a degenerate matrix (one user's
log, a catalog of one title or of identical titles: no variance across rows), a
RuntimeWarning on every fit of a tiny mall.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd, svd_flip


def truncated_svd(x: sp.spmatrix | np.ndarray, n_components: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(u, s, vt)`` of a rank-``n_components`` SVD of ``x``, signs as ``TruncatedSVD``'s."""
    u, s, vt = randomized_svd(x, n_components, n_iter=5, n_oversamples=10,
                              random_state=seed, flip_sign=False)
    u, vt = svd_flip(u, vt, u_based_decision=False)
    return u, s, vt
