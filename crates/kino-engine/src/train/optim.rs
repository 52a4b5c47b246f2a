//! Optimisation pieces of training: AdamW with savable state, global-norm gradient clipping,
//! warmup + cosine learning rate, and an exponential moving average of the weights.
//!
//! Written here rather than using `candle_nn::AdamW` because resumable checkpoints need the
//! optimiser's moment estimates, which candle's optimiser keeps private.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{backprop::GradStore, DType, Result, Tensor, Var};
use candle_nn::VarMap;

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// AdamW over the named variables of a [`VarMap`].
pub struct AdamW {
    cfg: AdamWConfig,
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: usize,
}

impl AdamW {
    pub fn new(map: &VarMap, cfg: AdamWConfig) -> Result<Self> {
        let mut vars: Vec<(String, Var)> = map
            .data()
            .lock()
            .expect("var map lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars
            .iter()
            .map(|(_, v)| v.zeros_like())
            .collect::<Result<Vec<_>>>()?;
        let v = vars
            .iter()
            .map(|(_, v)| v.zeros_like())
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            cfg,
            vars,
            m,
            v,
            step: 0,
        })
    }

    pub fn step_count(&self) -> usize {
        self.step
    }

    /// Global L2 norm of the gradients of all variables.
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut total = 0f64;
        for (_, var) in &self.vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                total += g
                    .detach()
                    .to_dtype(DType::F32)?
                    .sqr()?
                    .sum_all()?
                    .to_scalar::<f32>()? as f64;
            }
        }
        Ok(total.sqrt())
    }

    /// One update with learning rate `lr`; gradients are scaled so their global norm is at
    /// most `max_norm` (if positive). Returns the norm before clipping.
    pub fn step(&mut self, grads: &GradStore, lr: f64, max_norm: f64) -> Result<f64> {
        let norm = self.grad_norm(grads)?;
        let scale = if max_norm > 0.0 && norm > max_norm {
            max_norm / norm
        } else {
            1.0
        };
        if !norm.is_finite() {
            // Skip the update entirely: one bad batch must not destroy the weights.
            return Ok(norm);
        }
        self.step += 1;
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.step as i32);
        let bc2 = 1.0 - c.beta2.powi(self.step as i32);
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            // Detached throughout: gradients and moments must not keep the step's autograd
            // graph (or, through the moments, every earlier step's) alive.
            let g = (g.detach() * scale)?;
            let m = ((&self.m[i] * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            let v = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + c.eps)?)?;
            let w = var.as_tensor();
            let decayed = (w * (1.0 - lr * c.weight_decay))?;
            var.set(&(decayed - (update * lr)?)?.detach())?;
            self.m[i] = m.detach();
            self.v[i] = v.detach();
        }
        Ok(norm)
    }

    /// Optimiser state as named tensors (`m.<var>`, `v.<var>`, `step`).
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.insert(format!("m.{name}"), self.m[i].clone());
            out.insert(format!("v.{name}"), self.v[i].clone());
        }
        out.insert(
            "step".into(),
            Tensor::new(&[self.step as u32], &candle_core::Device::Cpu)?,
        );
        Ok(out)
    }

    /// Restores [`Self::state`]; shapes must match the current variables.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for (i, (name, var)) in self.vars.iter().enumerate() {
            for (prefix, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let t = state.get(&format!("{prefix}.{name}")).ok_or_else(|| {
                    candle_core::Error::Msg(format!("optimiser state has no {prefix}.{name}"))
                })?;
                if t.dims() != var.dims() {
                    candle_core::bail!(
                        "optimiser state {prefix}.{name} has shape {:?}, variable has {:?}",
                        t.dims(),
                        var.dims()
                    );
                }
                *slot = t.to_device(var.device())?.to_dtype(var.dtype())?;
            }
        }
        if let Some(s) = state.get("step") {
            self.step = s.to_vec1::<u32>()?[0] as usize;
        }
        Ok(())
    }
}

/// Linear warmup then cosine decay to `min_ratio * peak`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LrSchedule {
    pub peak: f64,
    pub warmup: usize,
    pub total: usize,
    pub min_ratio: f64,
}

impl LrSchedule {
    pub fn at(&self, step: usize) -> f64 {
        if self.warmup > 0 && step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1);
        let progress = ((step - self.warmup.min(step)) as f64 / span as f64).min(1.0);
        let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.peak * (self.min_ratio + (1.0 - self.min_ratio) * cos)
    }
}

/// Exponential moving average of a var map's weights (what gets exported).
pub struct Ema {
    decay: f64,
    shadow: Vec<(String, Tensor)>,
}

impl Ema {
    pub fn new(map: &VarMap, decay: f64) -> Result<Self> {
        let mut shadow: Vec<(String, Tensor)> = map
            .data()
            .lock()
            .expect("var map lock")
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
            .collect::<Result<_>>()?;
        shadow.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self { decay, shadow })
    }

    /// `shadow = d * shadow + (1 - d) * weights`, with a warm-up `min(decay, (1+n)/(10+n))`.
    pub fn update(&mut self, map: &VarMap, step: usize) -> Result<()> {
        let d = self.decay.min((1.0 + step as f64) / (10.0 + step as f64));
        let data = map.data().lock().expect("var map lock");
        for (name, s) in self.shadow.iter_mut() {
            if let Some(v) = data.get(name) {
                *s = ((&*s * d)? + (v.as_tensor().detach() * (1.0 - d))?)?.detach();
            }
        }
        Ok(())
    }

    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.shadow.iter().cloned().collect()
    }

    pub fn load(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        for (name, s) in self.shadow.iter_mut() {
            if let Some(t) = tensors.get(name) {
                *s = t.to_dtype(s.dtype())?;
            }
        }
        Ok(())
    }
}

/// Current weights of a var map as named tensors.
pub fn weights_of(map: &VarMap) -> HashMap<String, Tensor> {
    map.data()
        .lock()
        .expect("var map lock")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect()
}

/// Copies named tensors into a var map's variables (names must exist, shapes must match).
pub fn load_into(map: &VarMap, tensors: &HashMap<String, Tensor>, what: &Path) -> Result<()> {
    let data = map.data().lock().expect("var map lock");
    for (name, var) in data.iter() {
        let t = tensors.get(name).ok_or_else(|| {
            candle_core::Error::Msg(format!("{}: no tensor '{name}'", what.display()))
        })?;
        if t.dims() != var.dims() {
            candle_core::bail!(
                "{}: tensor '{name}' has shape {:?}, the model needs {:?}",
                what.display(),
                t.dims(),
                var.dims()
            );
        }
        var.set(&t.to_dtype(var.dtype())?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::{Init, VarBuilder};

    /// Optimiser moments and EMA shadows must be plain tensors: if they kept an autograd
    /// op, every step's graph stayed reachable and a long run grew to 23 GB and was killed.
    #[test]
    fn optimiser_and_ema_state_hold_no_autograd_graph() -> Result<()> {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let w = vb.get_with_hints(
            (4, 4),
            "w",
            Init::Randn {
                mean: 0.0,
                stdev: 0.5,
            },
        )?;
        let x = Tensor::ones((2, 4), DType::F32, &Device::Cpu)?;
        let mut opt = AdamW::new(&map, AdamWConfig::default())?;
        let mut ema = Ema::new(&map, 0.99)?;
        for step in 0..3 {
            let loss = x.matmul(&w)?.sqr()?.mean_all()?;
            let grads = loss.backward()?;
            opt.step(&grads, 1e-2, 1.0)?;
            ema.update(&map, step)?;
        }
        for t in opt.m.iter().chain(&opt.v) {
            assert!(!t.track_op(), "optimiser moment keeps a graph");
        }
        for (name, t) in ema.tensors() {
            assert!(!t.track_op(), "EMA shadow {name} keeps a graph");
        }
        Ok(())
    }

    #[test]
    fn adamw_fits_a_linear_map_and_state_round_trips() -> Result<()> {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let w = vb.get_with_hints((1, 3), "w", Init::Const(0.0))?;
        let x = Tensor::new(
            &[[1f32, 2.0, 3.0], [0.5, -1.0, 2.0], [2.0, 0.0, -1.0]],
            &Device::Cpu,
        )?;
        let target = Tensor::new(&[[1f32, -2.0, 0.5]], &Device::Cpu)?;
        let y = target.matmul(&x.t()?)?;
        let mut opt = AdamW::new(
            &map,
            AdamWConfig {
                weight_decay: 0.0,
                ..Default::default()
            },
        )?;
        let sched = LrSchedule {
            peak: 0.05,
            warmup: 10,
            total: 400,
            min_ratio: 0.1,
        };
        let mut first = None;
        let mut last = 0.0;
        for step in 0..400 {
            let loss = (w.matmul(&x.t()?)? - &y)?.sqr()?.mean_all()?;
            let l = loss.to_scalar::<f32>()?;
            first.get_or_insert(l);
            last = l;
            opt.step(&loss.backward()?, sched.at(step), 1.0)?;
        }
        assert!(last < first.unwrap() * 1e-3, "loss {first:?} -> {last}");
        let state = opt.state()?;
        let mut again = AdamW::new(&map, AdamWConfig::default())?;
        again.load_state(&state)?;
        assert_eq!(again.step_count(), 400);
        Ok(())
    }

    #[test]
    fn clipping_bounds_the_update_and_nan_gradients_are_skipped() -> Result<()> {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let w = vb.get_with_hints(2, "w", Init::Const(1.0))?;
        let loss = (w.sum_all()? * 1000.0)?;
        let mut opt = AdamW::new(&map, AdamWConfig::default())?;
        let norm = opt.step(&loss.backward()?, 0.1, 1.0)?;
        assert!((norm - 1000.0 * 2f64.sqrt()).abs() < 1e-2);
        let bad = (w.sum_all()? * f64::NAN)?;
        let before = w.to_vec1::<f32>()?;
        opt.step(&bad.backward()?, 0.1, 1.0)?;
        assert_eq!(before, w.to_vec1::<f32>()?);
        Ok(())
    }

    #[test]
    fn schedule_warms_up_then_decays() {
        let s = LrSchedule {
            peak: 1.0,
            warmup: 10,
            total: 110,
            min_ratio: 0.1,
        };
        assert!((s.at(0) - 0.1).abs() < 1e-12);
        assert!((s.at(9) - 1.0).abs() < 1e-12);
        assert!((s.at(60) - 0.55).abs() < 1e-9);
        assert!((s.at(500) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn ema_tracks_weights() -> Result<()> {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let w = vb.get_with_hints(1, "w", Init::Const(0.0))?;
        let mut ema = Ema::new(&map, 0.9)?;
        map.data().lock().unwrap()["w"].set(&Tensor::new(&[1f32], &Device::Cpu)?)?;
        for step in 0..200 {
            ema.update(&map, step)?;
        }
        let v = ema.tensors()["w"].to_vec1::<f32>()?[0];
        assert!((v - 1.0).abs() < 1e-3, "{v}");
        let _ = w;
        Ok(())
    }
}
