//! kino's samplers against diffusers' schedulers (tools/parity/flow_schedulers.py).
//!
//! The fixture holds, per case, diffusers' σ and timestep schedule, an initial sample, the
//! "model output" fed at each step and the sample diffusers produced after each step. No
//! network is involved: this checks the schedule and the solver arithmetic alone.

mod common;

use candle_core::Tensor;
use common::{fixture_path, meta_json, read_safetensors, rel_err};
use kino_engine::sampler::{FlowSchedule, Solver, SolverState};

fn to_vec(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn schedules_and_steps_match_diffusers() {
    let (t, meta) = read_safetensors(&fixture_path("flow_schedulers.safetensors"));
    let cases = meta_json(&meta, "cases");
    let cases = cases.as_object().unwrap();
    assert!(cases.len() >= 5);
    for (name, case) in cases {
        let solver = match case["scheduler"].as_str().unwrap() {
            "unipc" => Solver::UniPc,
            "euler" => Solver::Euler,
            other => panic!("unknown scheduler {other}"),
        };
        let steps = case["steps"].as_u64().unwrap() as usize;
        let shift = case["shift"].as_f64().unwrap();
        let schedule = FlowSchedule::diffusers(solver, steps, shift);

        let want_sigmas = to_vec(&t[&format!("{name}.sigmas")]);
        let want_ts = to_vec(&t[&format!("{name}.timesteps")]);
        assert_eq!(schedule.sigmas().len(), want_sigmas.len(), "{name}");
        for (i, (g, w)) in schedule.sigmas().iter().zip(&want_sigmas).enumerate() {
            assert!(
                (*g as f32 - w).abs() <= 1e-6,
                "{name} sigma {i}: {g} vs {w}"
            );
        }
        for (i, (g, w)) in schedule.timesteps().iter().zip(&want_ts).enumerate() {
            assert!(
                (*g as f32 - w).abs() <= 1e-3,
                "{name} timestep {i}: {g} vs {w}"
            );
        }

        let mut state = SolverState::new(solver, &schedule);
        let mut sample = t[&format!("{name}.sample")].clone();
        for i in 0..steps {
            let out = &t[&format!("{name}.output.{i}")];
            sample = state.step(out, &sample).unwrap();
            let want = &t[&format!("{name}.expected.{i}")];
            let rel = rel_err(&sample, want);
            assert!(rel <= 1e-5, "{name} step {i}: relative error {rel:e}");
        }
        assert!(state.finished(), "{name}");
    }
}
