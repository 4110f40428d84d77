//! Softmax over axis 1 (`torch.softmax(x, dim=1)`), for `[N, C, …]` tensors.

use ndarray::{ArrayD, ArrayViewD, Axis, Zip};

use crate::grad::Real;

/// The softmax of `x` along axis 1 (numerically stable: the maximum is subtracted).
pub(crate) fn forward<T: Real>(x: ArrayViewD<'_, T>) -> ArrayD<T> {
    let mut y = x.to_owned();
    for mut lane in y.lanes_mut(Axis(1)) {
        let max = lane.fold(lane[0], |m, &v| if v > m { v } else { m });
        lane.mapv_inplace(|v| (v - max).exp());
        let sum = lane.sum();
        lane.mapv_inplace(|v| v / sum);
    }
    y
}

/// `dx = y ⊙ (dy − Σ_c dy ⊙ y)`, from the forward output `y`.
pub(crate) fn backward<T: Real>(y: ArrayViewD<'_, T>, dy: ArrayViewD<'_, T>) -> ArrayD<T> {
    let mut dx = ArrayD::<T>::zeros(y.raw_dim());
    Zip::from(dx.lanes_mut(Axis(1)))
        .and(y.lanes(Axis(1)))
        .and(dy.lanes(Axis(1)))
        .for_each(|mut d, yl, dyl| {
            let dot = Zip::from(&yl)
                .and(&dyl)
                .fold(T::zero(), |a, &p, &g| a + p * g);
            Zip::from(&mut d)
                .and(&yl)
                .and(&dyl)
                .for_each(|o, &p, &g| *o = p * (g - dot));
        });
    dx
}
