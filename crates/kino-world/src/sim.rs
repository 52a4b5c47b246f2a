//! Physics: rapier2d rigid bodies plus the world's non-rigid behaviours (rising lanterns and
//! balloons, fluttering leaves, buoyancy and splashes in water).

use crate::spec::{SceneSpec, ARENA_HALF_WIDTH};
use crate::vocab::{Floor, Kind, Material};
use rapier2d::parry::query;
use rapier2d::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Physics steps per second.
pub const PHYSICS_HZ: u32 = 240;
/// Where the invisible side walls stand (x = +/- this), outside every framing.
pub const WALL_X: f32 = 4.2;
/// Contacts slower than this (normal approach speed, m/s) are touches, not impacts.
pub const MIN_IMPACT_SPEED: f32 = 0.08;

/// State of one object at one physics step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BodyState {
    pub x: f32,
    pub y: f32,
    pub angle: f32,
    pub vx: f32,
    pub vy: f32,
    pub omega: f32,
    /// Speed of the contact point along the floor while touching it (0 in the air), m/s.
    pub ground_speed: f32,
    /// True while touching the floor and slipping (sliding); false while rolling or airborne.
    pub sliding: bool,
}

/// What an object hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactWith {
    Floor,
    Wall,
    Water,
    /// Another object, by index.
    Object(usize),
}

/// One impact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// Time of first touch in seconds (sub-step: interpolated from the pre-step gap).
    pub time_s: f64,
    /// The object (index into `SceneSpec::objects`).
    pub object: usize,
    pub with: ContactWith,
    /// Normal approach speed in m/s.
    pub speed: f32,
    /// Material of the struck surface (the floor, water, or the other object).
    pub material: Material,
    /// Material of the object itself.
    pub object_material: Material,
    /// Contact point in metres.
    pub position: [f32; 2],
}

/// The result of [`simulate`]: states at the physics rate and every impact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    /// Physics step in seconds.
    pub dt: f64,
    /// `states[step][object]` at time `step * dt`, for steps `0..=duration/dt`.
    pub states: Vec<Vec<BodyState>>,
    /// Impacts in time order.
    pub contacts: Vec<Contact>,
    /// Gravity used (m/s^2, downward).
    pub gravity: f32,
}

impl Simulation {
    /// Object states at time `t` (linear interpolation between steps).
    pub fn state_at(&self, t: f64, object: usize) -> BodyState {
        let f = (t / self.dt).max(0.0);
        let i = (f.floor() as usize).min(self.states.len().saturating_sub(1));
        let j = (i + 1).min(self.states.len() - 1);
        let a = (f - i as f64).clamp(0.0, 1.0) as f32;
        let (s0, s1) = (self.states[i][object], self.states[j][object]);
        let lerp = |p: f32, q: f32| p + (q - p) * a;
        BodyState {
            x: lerp(s0.x, s1.x),
            y: lerp(s0.y, s1.y),
            angle: lerp(s0.angle, s1.angle),
            vx: lerp(s0.vx, s1.vx),
            vy: lerp(s0.vy, s1.vy),
            omega: lerp(s0.omega, s1.omega),
            ground_speed: lerp(s0.ground_speed, s1.ground_speed),
            sliding: if a < 0.5 { s0.sliding } else { s1.sliding },
        }
    }
}

fn rock_points(hw: f32, hh: f32) -> Vec<Point<Real>> {
    // A fixed irregular octagon.
    const R: [f32; 8] = [1.0, 0.86, 0.95, 0.8, 1.0, 0.9, 0.84, 0.93];
    (0..8)
        .map(|i| {
            let a = i as f32 * std::f32::consts::TAU / 8.0 + 0.2;
            point![a.cos() * hw * R[i], a.sin() * hh * R[i]]
        })
        .collect()
}

/// The collider shape of an object (also used by the renderer for rocks).
pub(crate) fn object_collider(kind: Kind, hw: f32, hh: f32) -> ColliderBuilder {
    match kind {
        Kind::Ball => ColliderBuilder::ball(hw),
        Kind::Balloon => ColliderBuilder::ball(hw.max(hh) * 0.95),
        Kind::Box | Kind::Can | Kind::Lantern => ColliderBuilder::cuboid(hw, hh),
        Kind::Bottle => ColliderBuilder::capsule_y((hh - hw).max(0.01), hw),
        Kind::Rock => ColliderBuilder::convex_hull(&rock_points(hw, hh))
            .unwrap_or_else(|| ColliderBuilder::cuboid(hw, hh)),
        Kind::Leaf => ColliderBuilder::cuboid(hw, (hh * 0.3).max(0.01)),
    }
}

/// Vertices of a rock's outline (object frame), for the renderer.
pub(crate) fn rock_outline(hw: f32, hh: f32) -> Vec<[f32; 2]> {
    rock_points(hw, hh).iter().map(|p| [p.x, p.y]).collect()
}

/// Rapier applies restitution to speculative contacts as soon as they are predicted, which
/// bounces an object a step early and too softly. This hook keeps restitution off until the
/// gap would actually close within the step.
struct TimelyBounce {
    dt: f32,
    gravity: f32,
}

impl PhysicsHooks for TimelyBounce {
    fn modify_solver_contacts(&self, ctx: &mut ContactModificationContext) {
        let vel = |h: Option<RigidBodyHandle>| {
            h.and_then(|h| ctx.bodies.get(h))
                .map(|b| *b.linvel())
                .unwrap_or_else(|| vector![0.0, 0.0])
        };
        let rel = vel(ctx.rigid_body1) - vel(ctx.rigid_body2);
        let approach = rel.dot(ctx.normal).max(0.0);
        let reach = approach * self.dt + self.gravity * self.dt * self.dt;
        for c in ctx.solver_contacts.iter_mut() {
            if c.dist > reach {
                c.restitution = 0.0;
            }
        }
    }
}

const TAG_FLOOR: u128 = 1 << 64;
const TAG_WALL: u128 = 2 << 64;

/// Simulates the scene with rapier2d at [`PHYSICS_HZ`] for the spec's duration.
pub fn simulate(spec: &SceneSpec) -> Simulation {
    let dt = 1.0 / PHYSICS_HZ as f32;
    let steps = (spec.duration_s as f64 * PHYSICS_HZ as f64).ceil() as usize;
    let g = spec.gravity;
    let mut bodies = RigidBodySet::new();
    let mut colliders = ColliderSet::new();

    let water = spec.floor == Floor::Water;
    // Floor (or pool bottom under water).
    let floor_top = if water { -2.5 } else { 0.0 };
    colliders.insert(
        ColliderBuilder::cuboid(20.0, 1.0)
            .translation(vector![0.0, floor_top - 1.0])
            .restitution(if water { 0.2 } else { spec.floor.restitution() })
            .restitution_combine_rule(CoefficientCombineRule::Multiply)
            .friction(if water { 0.8 } else { spec.floor.friction() })
            .friction_combine_rule(CoefficientCombineRule::Multiply)
            .user_data(TAG_FLOOR)
            .build(),
    );
    for side in [-1.0f32, 1.0] {
        colliders.insert(
            ColliderBuilder::cuboid(0.25, 20.0)
                .translation(vector![side * (WALL_X + 0.25), 10.0])
                .restitution(0.6)
                .restitution_combine_rule(CoefficientCombineRule::Multiply)
                .friction(0.5)
                .user_data(TAG_WALL)
                .build(),
        );
    }

    let mut handles = Vec::new();
    let mut sizes = Vec::new();
    for (i, o) in spec.objects.iter().enumerate() {
        let [hw, hh] = o.kind.half_extents(o.size);
        let (gs, lin_damp, ang_damp) = match o.kind {
            Kind::Lantern => (-0.09, 0.7, 2.0),
            Kind::Balloon => (-0.14, 0.9, 2.0),
            Kind::Leaf => (1.0, 5.5, 4.0),
            _ => (1.0, 0.0, 0.05),
        };
        let body = RigidBodyBuilder::dynamic()
            .translation(vector![o.position[0], o.position[1]])
            .rotation(o.angle)
            .linvel(vector![o.velocity[0], o.velocity[1]])
            .angvel(o.spin)
            .gravity_scale(gs)
            .linear_damping(lin_damp)
            .angular_damping(ang_damp)
            .ccd_enabled(false)
            .can_sleep(false)
            .user_data(i as u128)
            .build();
        let h = bodies.insert(body);
        let collider = object_collider(o.kind, hw, hh)
            .density(o.kind.density())
            .restitution(o.kind.restitution())
            .restitution_combine_rule(CoefficientCombineRule::Multiply)
            .friction(o.kind.friction())
            .friction_combine_rule(CoefficientCombineRule::Multiply)
            .active_hooks(ActiveHooks::MODIFY_SOLVER_CONTACTS)
            .user_data(i as u128)
            .build();
        colliders.insert_with_parent(collider, h, &mut bodies);
        handles.push(h);
        sizes.push([hw, hh]);
    }

    // A tiny prediction distance: rapier's speculative contacts with a positive gap take
    // energy out of bounces, while contacts found at touch give exact restitution.
    let integration = IntegrationParameters {
        dt,
        normalized_prediction_distance: 1e-4,
        ..IntegrationParameters::default()
    };
    let mut pipeline = PhysicsPipeline::new();
    let mut islands = IslandManager::new();
    let mut broad = DefaultBroadPhase::new();
    let mut narrow = NarrowPhase::new();
    let mut impulse_joints = ImpulseJointSet::new();
    let mut multibody_joints = MultibodyJointSet::new();
    let mut ccd = CCDSolver::new();
    let gravity = vector![0.0, -g];
    let hooks = TimelyBounce { dt, gravity: g };

    let n = spec.objects.len();
    let mut states = Vec::with_capacity(steps + 1);
    let mut contacts: Vec<Contact> = Vec::new();
    let mut active: HashMap<(ColliderHandle, ColliderHandle), ()> = HashMap::new();
    let mut last_contact: HashMap<(usize, ContactWith), f64> = HashMap::new();
    let mut in_water = vec![false; n];
    let phase: Vec<f32> = (0..n)
        .map(|i| crate::rng::hash01(spec.seed, 77 + i as u64) * std::f32::consts::TAU)
        .collect();
    let mut ground = vec![(0.0f32, false); n];

    let snapshot = |bodies: &RigidBodySet, ground: &[(f32, bool)]| -> Vec<BodyState> {
        handles
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let rb = &bodies[*h];
                let t = rb.translation();
                let v = rb.linvel();
                BodyState {
                    x: t.x,
                    y: t.y,
                    angle: rb.rotation().angle(),
                    vx: v.x,
                    vy: v.y,
                    omega: rb.angvel(),
                    ground_speed: ground[i].0,
                    sliding: ground[i].1,
                }
            })
            .collect()
    };
    states.push(snapshot(&bodies, &ground));

    for step in 0..steps {
        let t0 = step as f64 * dt as f64;
        // Non-rigid forces.
        for (i, h) in handles.iter().enumerate() {
            let kind = spec.objects[i].kind;
            let [hw, hh] = sizes[i];
            let rb = &mut bodies[*h];
            let m = rb.mass();
            rb.reset_forces(false);
            rb.reset_torques(false);
            let tt = t0 as f32;
            match kind {
                Kind::Leaf => {
                    let s = (std::f32::consts::TAU * 0.8 * tt + phase[i]).sin();
                    rb.add_force(vector![m * 4.0 * s, 0.0], true);
                    let inertia = rb.mass_properties().effective_angular_inertia();
                    let target = 0.6 * s;
                    let torque = (target - rb.rotation().angle()) * 30.0
                        / inertia.max(1e-9).recip().max(1e-9);
                    rb.add_torque(torque, true);
                }
                Kind::Lantern | Kind::Balloon => {
                    let s = (std::f32::consts::TAU * 0.35 * tt + phase[i]).sin();
                    rb.add_force(vector![m * 0.6 * s, 0.0], true);
                }
                _ => {}
            }
            if water {
                let y = rb.translation().y;
                let frac = ((hh - y) / (2.0 * hh)).clamp(0.0, 1.0);
                if frac > 0.0 {
                    let v = *rb.linvel();
                    let lift = frac * m * g * 2.2;
                    rb.add_force(
                        vector![-frac * m * 3.0 * v.x, lift - frac * m * 4.0 * v.y],
                        true,
                    );
                    let w = rb.angvel();
                    let inertia = rb.mass_properties().effective_angular_inertia();
                    // Viscous damping of the spin: angular deceleration 3/s when submerged
                    // (torque = I * alpha; dividing by I instead blew small bodies up).
                    let torque = -frac * 3.0 * w * inertia;
                    rb.add_torque(torque, true);
                }
                let _ = hw;
            }
        }

        // Pre-step poses and velocities for impact timing.
        let pre: Vec<(Isometry<Real>, Vector<Real>)> = handles
            .iter()
            .map(|h| (*bodies[*h].position(), *bodies[*h].linvel()))
            .collect();

        pipeline.step(
            &gravity,
            &integration,
            &mut islands,
            &mut broad,
            &mut narrow,
            &mut bodies,
            &mut colliders,
            &mut impulse_joints,
            &mut multibody_joints,
            &mut ccd,
            None,
            &hooks,
            &(),
        );

        // New contact pairs are impacts.
        let mut now_active = HashMap::new();
        ground.iter_mut().for_each(|g| *g = (0.0, false));
        for pair in narrow.contact_pairs() {
            if !pair.has_any_active_contact {
                continue;
            }
            let key = (pair.collider1, pair.collider2);
            now_active.insert(key, ());
            let (Some(c1), Some(c2)) =
                (colliders.get(pair.collider1), colliders.get(pair.collider2))
            else {
                continue;
            };
            let tag = |c: &Collider| -> Option<usize> { c.parent().map(|_| c.user_data as usize) };
            let (a, b) = (tag(c1), tag(c2));
            let Some(manifold) = pair
                .manifolds
                .iter()
                .find(|m| !m.data.solver_contacts.is_empty())
            else {
                continue;
            };
            let normal = manifold.data.normal;
            let point = manifold.data.solver_contacts[0].point;
            // Ground speed bookkeeping (object on floor).
            let floor_pair = match (a, b) {
                (Some(i), None) if c2.user_data == TAG_FLOOR => Some(i),
                (None, Some(i)) if c1.user_data == TAG_FLOOR => Some(i),
                _ => None,
            };
            if let Some(i) = floor_pair {
                let rb = &bodies[handles[i]];
                let v = rb.linvel();
                let w = rb.angvel();
                let r = point - rb.translation();
                // Velocity of the body's material point at the contact.
                let vp_x = v.x - w * r.y;
                ground[i] = (v.x.abs().max(vp_x.abs()), vp_x.abs() > 0.05);
            }
            if active.contains_key(&key) {
                continue;
            }
            let vel = |o: Option<usize>| o.map(|i| pre[i].1).unwrap_or_else(|| vector![0.0, 0.0]);
            let rel = vel(a) - vel(b);
            let speed = rel.dot(&normal).abs();
            if speed < MIN_IMPACT_SPEED {
                continue;
            }
            let pose =
                |o: Option<usize>, c: &Collider| o.map(|i| pre[i].0).unwrap_or(*c.position());
            // Signed gap at the start of the step: negative when already overlapping (the
            // touch happened during the previous step).
            let gap = query::contact(&pose(a, c1), c1.shape(), &pose(b, c2), c2.shape(), 0.1)
                .ok()
                .flatten()
                .map(|c| c.dist)
                .unwrap_or(0.0);
            let dt64 = dt as f64;
            let frac = (gap as f64 / (speed as f64 * dt64)).clamp(-1.0, 2.0);
            let time_s = t0 + frac * dt64;
            let (obj, other_tag, other) = match (a, b) {
                (Some(i), Some(j)) => (i.min(j), None, Some(i.max(j))),
                (Some(i), None) => (i, Some(c2.user_data), None),
                (None, Some(j)) => (j, Some(c1.user_data), None),
                (None, None) => continue,
            };
            let with = match (other, other_tag) {
                (Some(j), _) => ContactWith::Object(j),
                (None, Some(TAG_WALL)) => ContactWith::Wall,
                _ => ContactWith::Floor,
            };
            let material = match with {
                ContactWith::Object(j) => spec.objects[j].kind.material(),
                ContactWith::Wall => Material::Stone,
                _ if water => Material::Stone,
                _ => spec.floor.material(),
            };
            if let Some(&last) = last_contact.get(&(obj, with)) {
                if time_s - last < 0.03 {
                    continue;
                }
            }
            last_contact.insert((obj, with), time_s);
            contacts.push(Contact {
                time_s,
                object: obj,
                with,
                speed,
                material,
                object_material: spec.objects[obj].kind.material(),
                position: [point.x, point.y],
            });
        }
        active = now_active;

        // Splashes: an object's bottom crossing the water surface downwards.
        if water {
            for i in 0..n {
                let [hw, hh] = sizes[i];
                let (p0, v0) = pre[i];
                let bottom0 = p0.translation.y - hh;
                let y1 = bodies[handles[i]].translation().y;
                let bottom1 = y1 - hh;
                if !in_water[i] && bottom0 > 0.0 && bottom1 <= 0.0 && v0.y < 0.0 {
                    in_water[i] = true;
                    let speed = -v0.y;
                    let frac = (bottom0 as f64 / (speed as f64 * dt as f64)).clamp(0.0, 1.0);
                    let time_s = t0 + frac * dt as f64;
                    if speed >= MIN_IMPACT_SPEED {
                        contacts.push(Contact {
                            time_s,
                            object: i,
                            with: ContactWith::Water,
                            speed,
                            material: Material::Water,
                            object_material: spec.objects[i].kind.material(),
                            position: [p0.translation.x, 0.0],
                        });
                    }
                } else if in_water[i] && bottom1 > hw.min(hh) * 0.5 {
                    in_water[i] = false;
                }
            }
        }
        states.push(snapshot(&bodies, &ground));
    }
    contacts.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
    let _ = ARENA_HALF_WIDTH;
    Simulation {
        dt: dt as f64,
        states,
        contacts,
        gravity: g,
    }
}
