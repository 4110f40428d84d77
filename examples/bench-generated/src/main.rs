//! `bench-generated MODEL BATCH REPEAT THREADS [alloc]`: times the forward
//! pass of a resnetc-generated model and prints `median_ms=…` like `resnetc
//! bench`. It times `forward_into` with a workspace and an output buffer made
//! once (the way to run a model repeatedly), or `forward` with `alloc`.

use std::time::Instant;

use resnetc::runtime::ndarray::{Array2, Array4};

// Generated code exposes more than this binary uses.
#[allow(dead_code)]
mod resnet18 {
    include!(concat!(env!("OUT_DIR"), "/resnet18.rs"));
}
#[allow(dead_code)]
mod resnet50 {
    include!(concat!(env!("OUT_DIR"), "/resnet50.rs"));
}

fn time(mut forward: impl FnMut() -> usize, repeat: usize) -> (f64, f64) {
    forward();
    let mut times: Vec<f64> = (0..repeat)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(forward());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    let model = args.get(1).map_or("resnet18", String::as_str);
    let batch: usize = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let repeat: usize = args.get(3).map_or(Ok(10), |s| s.parse())?;
    let threads: usize = args.get(4).map_or(Ok(0), |s| s.parse())?;
    let alloc = args.get(5).is_some_and(|a| a == "alloc");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let x = Array4::<f32>::from_elem((batch, 3, 224, 224), 0.5);
    let dir = env!("OUT_DIR");
    let (median, min) = pool.install(
        || -> Result<(f64, f64), Box<dyn std::error::Error + Send + Sync>> {
            // The same timing code for each generated model type.
            macro_rules! bench {
                ($module:ident :: $model:ident, $workspace:ident) => {{
                    let m = $module::$model::from_path(
                        format!("{dir}/{}.safetensors", stringify!($module)).as_ref(),
                    )?;
                    let mut ws = $module::$workspace::new(batch);
                    let mut y = Array2::zeros([batch, $module::$model::OUTPUT[0]]);
                    if alloc {
                        time(|| m.forward(x.view()).map(|y| y.len()).unwrap_or(0), repeat)
                    } else {
                        time(
                            || {
                                m.forward_into(x.view(), y.view_mut(), &mut ws)
                                    .map_or(0, |()| y.len())
                            },
                            repeat,
                        )
                    }
                }};
            }
            Ok(match model {
                "resnet18" => bench!(resnet18::Resnet18, Resnet18Workspace),
                "resnet50" => bench!(resnet50::Resnet50, Resnet50Workspace),
                other => {
                    return Err(format!("unknown model `{other}` (resnet18 or resnet50)").into());
                }
            })
        },
    )?;
    println!(
        "model={model} batch={batch} threads={} median_ms={median:.3} min_ms={min:.3} runs={repeat} api={}",
        pool.current_num_threads(),
        if alloc { "forward" } else { "forward_into" }
    );
    Ok(())
}
