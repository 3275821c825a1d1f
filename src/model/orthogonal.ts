/**
 * Orthogonal initialisation of recurrent weights (--init orthogonal).
 *
 * Why: h_t depends on h_{t-k} through k products with W_hh. A random orthogonal W_hh has every
 * singular value exactly 1, so at the start of training those products neither shrink nor blow
 * up the gradient flowing back through time (Saxe et al. 2014, "Exact solutions to the nonlinear
 * dynamics of learning in deep linear networks"; Le et al. 2015, "A simple way to initialize
 * recurrent networks of rectified linear units"). The scale is therefore 1: any other gain would
 * move all the singular values away from 1 together.
 */
import type { Rng } from '../rng.js';

/**
 * A random n×n orthogonal matrix (row-major, float64): a Gaussian matrix drawn from `rng` row by
 * row, its rows orthonormalised by modified Gram-Schmidt (one pass: MGS loses orthogonality in
 * proportion to the matrix's condition number, about n for a Gaussian one, so QQᵀ = I to about
 * 1e-13 at n = 1024, and init costs 2n³ flops a block; rows, not columns, so every inner loop reads contiguous memory: at
 * n = 512 columns were 25 times slower). That is the Q of a QR of the transposed Gaussian matrix
 * with R's diagonal positive, so Q is distributed uniformly over the orthogonal group (as
 * torch.nn.init.orthogonal_'s sign-fixed QR); a square matrix with orthonormal rows has
 * orthonormal columns too (QᵀQ = I).
 */
export function randomOrthogonal(rng: Rng, n: number): Float64Array {
  const q = new Float64Array(n * n); // (n, n), row j is q[j * n .. j * n + n)
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  for (let j = 0; j < n; j++) {
    const row = q.subarray(j * n, (j + 1) * n);
    for (let k = 0; k < j; k++) {
      const done = q.subarray(k * n, (k + 1) * n);
      let dot = 0;
      for (let i = 0; i < n; i++) dot += done[i] * row[i];
      for (let i = 0; i < n; i++) row[i] -= dot * done[i];
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += row[i] * row[i];
    norm = Math.sqrt(norm); // > 0 with probability 1 for a Gaussian matrix
    for (let i = 0; i < n; i++) row[i] /= norm;
  }
  return q;
}

/**
 * A recurrent weight in PyTorch's layout (gates·n, n), row-major float64: one random orthogonal
 * n×n block per gate (LSTM i, f, g, o; GRU r, z, n; RNN one), drawn in that order, since each gate
 * has its own recurrence through h.
 */
export function orthogonalBlocks(rng: Rng, gates: number, n: number): Float64Array {
  const out = new Float64Array(gates * n * n);
  for (let g = 0; g < gates; g++) out.set(randomOrthogonal(rng, n), g * n * n);
  return out;
}
