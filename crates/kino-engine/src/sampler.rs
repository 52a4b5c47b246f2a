//! Flow-matching sampling: the noise schedule and the ODE solvers.
//!
//! Convention (rectified flow, as Wan 2.x and LTX use): `x_σ = (1 - σ) x0 + σ ε`, σ runs from
//! 1 (pure noise) to 0 (clean), and the network predicts the velocity `v = ε - x0`.
//!
//! - [`FlowSchedule`]: σ values for N steps with the resolution `shift`
//!   (`σ' = shift σ / (1 + (shift - 1) σ)`), spaced like diffusers' flow-sigma schedules.
//! - [`Solver::Euler`]: first order, `x ← x + (σ_next - σ) v`.
//! - [`Solver::UniPc`]: UniPC (Zhao et al. 2023) in its B(h) = e^h - 1 ("bh2") form, data
//!   prediction, order 2 with the UniC corrector, lower order on the first and last steps:
//!   the configuration Wan 2.1 samples with (diffusers `UniPCMultistepScheduler`,
//!   `use_flow_sigmas=True`, `prediction_type="flow_prediction"`, `solver_order=2`).
//!
//! A solver holds per-stream state; the twin-stream pipeline runs one per stream on the same
//! schedule.

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

/// The σ values of a sampling run, from high to low, ending with 0.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSchedule {
    sigmas: Vec<f64>,
    /// The timestep the network is given at each step (N of them), in diffusion units
    /// (0..1000).
    timesteps: Vec<f64>,
}

impl FlowSchedule {
    /// `steps` steps from σ = 1 - 1/1000 (as diffusers' flow sigmas start) with `shift`.
    pub fn new(steps: usize, shift: f64) -> Self {
        Self::from_max(steps, shift, 1.0)
    }

    /// Like [`Self::new`] but starting from `strength` (0..=1) of the way to pure noise, for
    /// remix (SDEdit): the first σ is the shifted `strength`.
    pub fn from_max(steps: usize, shift: f64, strength: f64) -> Self {
        let steps = steps.max(1);
        let train_steps = 1000.0;
        let top = (1.0 - 1.0 / train_steps) * strength.clamp(0.0, 1.0);
        let mut sigmas: Vec<f64> = (0..steps)
            .map(|i| {
                // Linear in unshifted σ from `top` down to 1/1000 * strength, then shifted.
                let s =
                    top - (top - strength.clamp(0.0, 1.0) / train_steps) * i as f64 / steps as f64;
                shift_sigma(s, shift)
            })
            .collect();
        sigmas.push(0.0);
        let timesteps = sigmas[..steps].iter().map(|s| s * 1000.0).collect();
        Self { sigmas, timesteps }
    }

    /// The schedule of diffusers' `UniPCMultistepScheduler` with `use_flow_sigmas=True` and
    /// `final_sigmas_type="zero"` (the scheduler Wan's diffusers folders ship): σ linear from 1
    /// to 1/1000 over `steps + 1` points, the last dropped, shifted by `flow_shift`, a σ of
    /// exactly 1 nudged to 1 - 1e-6; the network gets `int(1000 σ)`. σ values are rounded to
    /// f32 as the reference stores them.
    pub fn diffusers_unipc(steps: usize, flow_shift: f64) -> Self {
        let steps = steps.max(1);
        let train = 1000.0;
        let mut sigmas: Vec<f64> = (0..steps)
            .map(|i| {
                let s = 1.0 - (1.0 - 1.0 / train) * i as f64 / steps as f64;
                shift_sigma(s, flow_shift)
            })
            .collect();
        if (sigmas[0] - 1.0).abs() < 1e-6 {
            sigmas[0] -= 1e-6;
        }
        let timesteps = sigmas.iter().map(|s| (s * train).trunc()).collect();
        let mut sigmas: Vec<f64> = sigmas.iter().map(|&s| s as f32 as f64).collect();
        sigmas.push(0.0);
        Self { sigmas, timesteps }
    }

    /// The schedule of diffusers' `FlowMatchEulerDiscreteScheduler` (static `shift`): the
    /// timesteps run linearly from σ_max to σ_min of the shifted training schedule and are
    /// then shifted again (the reference applies the shift twice); the network gets `1000 σ`.
    pub fn diffusers_euler(steps: usize, shift: f64) -> Self {
        let steps = steps.max(1);
        let train = 1000.0f64;
        let f32_round = |x: f64| x as f32 as f64;
        let sigma_max = f32_round(shift_sigma(1.0, shift));
        let sigma_min = f32_round(shift_sigma(f32_round(1.0 / train), shift));
        let sigmas: Vec<f64> = (0..steps)
            .map(|i| {
                let t = if steps == 1 {
                    sigma_max * train
                } else {
                    sigma_max * train
                        + (sigma_min - sigma_max) * train * i as f64 / (steps - 1) as f64
                };
                f32_round(shift_sigma(t / train, shift))
            })
            .collect();
        let timesteps = sigmas.iter().map(|s| f32_round(s * train)).collect();
        let mut sigmas = sigmas;
        sigmas.push(0.0);
        Self { sigmas, timesteps }
    }

    /// The diffusers schedule a solver samples with (UniPC or Euler), see
    /// [`Self::diffusers_unipc`] and [`Self::diffusers_euler`].
    pub fn diffusers(solver: Solver, steps: usize, shift: f64) -> Self {
        match solver {
            Solver::UniPc => Self::diffusers_unipc(steps, shift),
            Solver::Euler => Self::diffusers_euler(steps, shift),
        }
    }

    /// The network's timestep at each step (N of them), in diffusion units (0..1000).
    pub fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    /// σ values (N + 1 of them, the last is 0).
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    pub fn steps(&self) -> usize {
        self.sigmas.len() - 1
    }
}

/// `σ' = shift σ / (1 + (shift - 1) σ)`: spends more steps at high noise when shift > 1.
pub fn shift_sigma(sigma: f64, shift: f64) -> f64 {
    shift * sigma / (1.0 + (shift - 1.0) * sigma)
}

/// Which ODE solver to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    Euler,
    #[default]
    UniPc,
}

impl Solver {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "euler" => Some(Solver::Euler),
            "unipc" | "uni-pc" | "uni_pc" => Some(Solver::UniPc),
            _ => None,
        }
    }
}

/// One stream's solver state over a schedule.
#[derive(Debug)]
pub struct SolverState {
    solver: Solver,
    sigmas: Vec<f64>,
    step: usize,
    /// Data predictions x0 at earlier steps (most recent last), for UniPC.
    history: Vec<Tensor>,
    last_sample: Option<Tensor>,
    lower_order_nums: usize,
    /// Order the last predictor step used (the corrector repeats it).
    this_order: usize,
}

const ORDER: usize = 2;

fn lambda(sigma: f64) -> f64 {
    // log(alpha / sigma) with alpha = 1 - sigma.
    (1.0 - sigma).ln() - sigma.ln()
}

impl SolverState {
    pub fn new(solver: Solver, schedule: &FlowSchedule) -> Self {
        Self {
            solver,
            sigmas: schedule.sigmas.clone(),
            step: 0,
            history: Vec::new(),
            last_sample: None,
            lower_order_nums: 0,
            this_order: 1,
        }
    }

    /// A solver that starts at step `start` of `schedule` with no history, as diffusers'
    /// schedulers do when a pipeline begins part-way (video-to-video: the steps that
    /// `strength` leaves).
    pub fn starting_at(solver: Solver, schedule: &FlowSchedule, start: usize) -> Self {
        let mut state = Self::new(solver, schedule);
        state.step = start.min(schedule.steps());
        state
    }

    /// σ at the current step (the noise level of the sample passed to the next `step`).
    pub fn sigma(&self) -> f64 {
        self.sigmas[self.step.min(self.sigmas.len() - 1)]
    }

    pub fn finished(&self) -> bool {
        self.step + 1 >= self.sigmas.len()
    }

    /// Advances `sample` (at σ = `self.sigma()`) by one step given the predicted velocity.
    pub fn step(&mut self, velocity: &Tensor, sample: &Tensor) -> Result<Tensor> {
        if self.finished() {
            candle_core::bail!(
                "sampler stepped past the end of its {}-step schedule",
                self.sigmas.len() - 1
            );
        }
        let out = match self.solver {
            Solver::Euler => {
                let (s, next) = (self.sigmas[self.step], self.sigmas[self.step + 1]);
                (sample + (velocity * (next - s))?)?
            }
            Solver::UniPc => self.unipc_step(velocity, sample)?,
        };
        self.step += 1;
        Ok(out)
    }

    fn unipc_step(&mut self, velocity: &Tensor, sample: &Tensor) -> Result<Tensor> {
        let i = self.step;
        let sigma = self.sigmas[i];
        let x0 = (sample - (velocity * sigma)?)?;
        let mut sample = sample.clone();
        // The corrector replaces the predicted sample (the reference does the same); the
        // model output it uses was computed at the uncorrected sample.
        if i > 0 {
            if let Some(last) = self.last_sample.take() {
                sample = self.corrector(&x0, &last)?;
            }
        }
        self.history.push(x0);
        if self.history.len() > ORDER {
            self.history.remove(0);
        }
        let remaining = self.sigmas.len() - 1 - i;
        let order = ORDER.min(remaining).min(self.lower_order_nums + 1);
        self.last_sample = Some(sample.clone());
        self.this_order = order;
        let out = self.predictor(&sample, order)?;
        if self.lower_order_nums < ORDER {
            self.lower_order_nums += 1;
        }
        Ok(out)
    }

    /// Coefficients shared by predictor and corrector: (h_phi_1, B_h, b vector) for `hh = -h`.
    fn coefficients(h: f64, order: usize) -> (f64, f64, Vec<f64>) {
        let hh = -h;
        let h_phi_1 = hh.exp_m1();
        let b_h = hh.exp_m1();
        let mut h_phi_k = h_phi_1 / hh - 1.0;
        let mut factorial = 1.0;
        let mut b = Vec::with_capacity(order);
        for k in 1..=order {
            b.push(h_phi_k * factorial / b_h);
            factorial *= (k + 1) as f64;
            h_phi_k = h_phi_k / hh - 1.0 / factorial;
        }
        (h_phi_1, b_h, b)
    }

    /// UniP: predicts the sample at σ_{i+1} from the one at σ_i.
    fn predictor(&self, x: &Tensor, order: usize) -> Result<Tensor> {
        let i = self.step;
        let (s0, t) = (self.sigmas[i], self.sigmas[i + 1]);
        let m0 = self
            .history
            .last()
            .expect("predictor runs after a model output");
        let alpha_t = 1.0 - t;
        let (lambda_s0, lambda_t) = (lambda(s0), lambda(t));
        let h = lambda_t - lambda_s0;
        let (h_phi_1, b_h, _b) = Self::coefficients(h, order);
        // x_t = (σ_t / σ_s0) x - α_t h_phi_1 m0 (at σ_t = 0 this is exactly m0).
        let mut out = ((x * (t / s0))? - (m0 * (alpha_t * h_phi_1))?)?;
        if order == 2 && self.history.len() == 2 {
            let m1 = &self.history[0];
            let s1 = self.sigmas[i - 1];
            let rk = (lambda(s1) - lambda_s0) / h;
            let d1 = ((m1 - m0)? / rk)?;
            // Second order: rho = 1/2 (as the reference uses for order 2).
            out = (out - (d1 * (alpha_t * b_h * 0.5))?)?;
        }
        Ok(out)
    }

    /// UniC: corrects the sample just predicted (now at σ_i) using the new model output.
    fn corrector(&self, model_t: &Tensor, last_sample: &Tensor) -> Result<Tensor> {
        let i = self.step;
        let (s0, t) = (self.sigmas[i - 1], self.sigmas[i]);
        let m0 = self
            .history
            .last()
            .expect("corrector runs after a model output");
        let alpha_t = 1.0 - t;
        let (lambda_s0, lambda_t) = (lambda(s0), lambda(t));
        let h = lambda_t - lambda_s0;
        // The corrector runs at the order the previous predictor used.
        let order = self.this_order;
        let (h_phi_1, b_h, b) = Self::coefficients(h, order);
        let x_t_ = ((last_sample * (t / s0))? - (m0 * (alpha_t * h_phi_1))?)?;
        let d1_t = (model_t - m0)?;
        let correction = if order == 1 || self.history.len() < 2 {
            (d1_t * 0.5)?
        } else {
            // Solve R rho = b with R = [[1, 1], [rk, 1]] (rows: rk^0, rk^1; columns: rk, 1).
            let m1 = &self.history[0];
            let s1 = self.sigmas[i - 2];
            let rk = (lambda(s1) - lambda_s0) / h;
            let det = 1.0 * 1.0 - rk * 1.0;
            let rho0 = (b[0] * 1.0 - b[1] * 1.0) / det;
            let rho1 = (1.0 * b[1] - rk * b[0]) / det;
            let d1 = ((m1 - m0)? / rk)?;
            ((d1 * rho0)? + (d1_t * rho1)?)?
        };
        x_t_ - (correction * (alpha_t * b_h))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn schedule_runs_from_near_one_to_zero_and_shift_bends_it() {
        let s = FlowSchedule::new(10, 1.0);
        assert_eq!(s.sigmas().len(), 11);
        assert!((s.sigmas()[0] - 0.999).abs() < 1e-12);
        assert_eq!(*s.sigmas().last().unwrap(), 0.0);
        assert!(s.sigmas().windows(2).all(|w| w[0] > w[1]));
        let shifted = FlowSchedule::new(10, 5.0);
        assert!(shifted.sigmas()[5] > s.sigmas()[5]);
        assert!((shift_sigma(0.5, 3.0) - 0.75).abs() < 1e-12);
        let remix = FlowSchedule::from_max(10, 1.0, 0.5);
        assert!((remix.sigmas()[0] - 0.4995).abs() < 1e-9);
    }

    /// Exact velocity for data x0 ~ N(mu, s^2) (per element), so the ODE's exact solution from
    /// noise e is x0 = mu + s e.
    fn gaussian_velocity(x: &Tensor, sigma: f64, mu: f64, s: f64) -> Tensor {
        let a = 1.0 - sigma;
        let var = a * a * s * s + sigma * sigma;
        let centred = (x - a * mu).unwrap();
        let e_eps = (&centred * (sigma / var)).unwrap();
        let e_x0 = ((&centred * (a * s * s / var)).unwrap() + mu).unwrap();
        (e_eps - e_x0).unwrap()
    }

    fn solve(solver: Solver, steps: usize, shift: f64) -> f64 {
        let (mu, s) = (0.7, 0.3);
        let noise = Tensor::new(&[-1.5f64, -0.3, 0.0, 0.8, 2.0], &Device::Cpu).unwrap();
        let schedule = FlowSchedule::new(steps, shift);
        let mut state = SolverState::new(solver, &schedule);
        // Start exactly on the flow at the first sigma.
        let s0 = schedule.sigmas()[0];
        let mut x = ((&noise * (s0 + (1.0 - s0) * s)).unwrap() + (1.0 - s0) * mu).unwrap();
        while !state.finished() {
            let v = gaussian_velocity(&x, state.sigma(), mu, s);
            x = state.step(&v, &x).unwrap();
        }
        let want = ((&noise * s).unwrap() + mu).unwrap();
        (x - want)
            .unwrap()
            .abs()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    #[test]
    fn both_solvers_converge_and_unipc_is_higher_order() {
        let euler_10 = solve(Solver::Euler, 10, 1.0);
        let euler_40 = solve(Solver::Euler, 40, 1.0);
        let unipc_10 = solve(Solver::UniPc, 10, 1.0);
        let unipc_40 = solve(Solver::UniPc, 40, 1.0);
        assert!(euler_40 < euler_10 / 2.5, "euler {euler_10} -> {euler_40}");
        assert!(unipc_40 < unipc_10 / 6.0, "unipc {unipc_10} -> {unipc_40}");
        assert!(
            unipc_10 < euler_10 / 3.0,
            "unipc {unipc_10} vs euler {euler_10}"
        );
        eprintln!("max error: euler 10 {euler_10:.2e}, 40 {euler_40:.2e}; unipc 10 {unipc_10:.2e}, 40 {unipc_40:.2e}");
        assert!(unipc_10 < 5e-2, "unipc error {unipc_10}");
        // With shift the last (first-order, as in the reference) step is long, but the
        // error still falls quickly with more steps.
        let (u12, u48) = (solve(Solver::UniPc, 12, 3.0), solve(Solver::UniPc, 48, 3.0));
        assert!(
            u48 < u12 / 6.0,
            "shifted: unipc 12 steps {u12}, 48 steps {u48}"
        );
    }

    #[test]
    fn stepping_past_the_end_is_an_error() {
        let schedule = FlowSchedule::new(1, 1.0);
        let mut st = SolverState::new(Solver::UniPc, &schedule);
        let x = Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap();
        let x = st.step(&x, &x).unwrap();
        assert!(st.finished());
        assert!(st.step(&x, &x).is_err());
    }
}
