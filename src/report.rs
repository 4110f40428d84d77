//! The model summary: a Keras / torchinfo-style table and its totals.

use serde::Serialize;

use crate::ir::{CheckedModel, Op};

/// One row of the summary: one layer.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Hierarchical name.
    pub name: String,
    /// The op (`conv`, `bn`, ...).
    #[serde(rename = "type")]
    pub op: String,
    /// `N×C×H×W`.
    pub output_shape: String,
    /// Learned parameters (trainable and not).
    pub params: u64,
    /// Conv / dense multiply-adds per sample.
    pub mult_adds: u64,
    /// Names of the inputs (shown for merges and non-sequential edges).
    pub connected_to: Vec<String>,
}

/// Totals over the model.
#[derive(Clone, Debug, Serialize)]
pub struct Totals {
    /// Trainable parameters.
    pub trainable_params: u64,
    /// Non-trainable parameters (batch-norm running statistics).
    pub non_trainable_params: u64,
    /// All parameters.
    pub total_params: u64,
    /// Conv and dense multiply-adds per sample.
    pub mult_adds: u64,
    /// Bytes of f32 parameters.
    pub param_bytes: u64,
    /// Bytes of all f32 layer outputs of one forward pass, per sample.
    pub activation_bytes: u64,
    /// Peak bytes of live f32 activations per sample, freeing each after its last use.
    pub peak_activation_bytes: u64,
}

/// A model summary.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The model's name.
    pub model: String,
    /// Inputs: `name: N×C×H×W`.
    pub inputs: Vec<String>,
    /// Outputs: `name: N×C×H×W`.
    pub outputs: Vec<String>,
    /// One row per layer, in execution order.
    pub layers: Vec<Row>,
    /// Totals.
    pub totals: Totals,
}

impl Summary {
    /// Summarises a checked model.
    pub fn new(model: &CheckedModel) -> Summary {
        let g = model.graph();
        let costs = model.costs();
        let layers = g
            .nodes
            .iter()
            .zip(&costs.nodes)
            .enumerate()
            .map(|(i, (n, cost))| {
                let sequential = n.inputs.len() == 1 && n.inputs[0].0 as usize + 1 == i;
                let merge = matches!(n.op, Op::Add | Op::Concat);
                let connected_to = if n.inputs.is_empty() || (sequential && !merge) {
                    Vec::new()
                } else {
                    n.inputs.iter().map(|&x| g.node(x).name.clone()).collect()
                };
                Row {
                    name: n.name.clone(),
                    op: n.op.name().to_string(),
                    output_shape: n.shape.to_string(),
                    params: cost.params,
                    mult_adds: cost.macs,
                    connected_to,
                }
            })
            .collect();
        Summary {
            model: g.name.clone(),
            inputs: g
                .inputs
                .iter()
                .map(|i| format!("{}: {}", i.name, g.node(i.node).shape))
                .collect(),
            outputs: g
                .outputs
                .iter()
                .map(|o| format!("{}: {}", o.name, g.node(o.node).shape))
                .collect(),
            layers,
            totals: Totals {
                trainable_params: costs.trainable_params,
                non_trainable_params: costs.non_trainable_params,
                total_params: costs.total_params,
                mult_adds: costs.mult_adds,
                param_bytes: costs.param_bytes,
                activation_bytes: costs.activation_bytes,
                peak_activation_bytes: costs.peak_activation_bytes,
            },
        }
    }

    /// Renders the table and totals as text.
    pub fn render(&self) -> String {
        let headers = [
            "Layer (type)",
            "Output Shape",
            "Param #",
            "Mult-Adds",
            "Connected to",
        ];
        let cells: Vec<[String; 5]> = self
            .layers
            .iter()
            .map(|r| {
                [
                    format!("{} ({})", r.name, r.op),
                    r.output_shape.clone(),
                    group(r.params),
                    if r.mult_adds == 0 {
                        "-".into()
                    } else {
                        group(r.mult_adds)
                    },
                    r.connected_to.join(", "),
                ]
            })
            .collect();
        let mut widths = headers.map(|h| h.chars().count());
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let total_width: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
        let line = |row: &[String]| -> String {
            let mut s = String::new();
            for (k, (c, w)) in row.iter().zip(widths).enumerate() {
                let pad = w - c.chars().count();
                if k == 2 || k == 3 {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    if k + 1 < row.len() {
                        s.push_str(&" ".repeat(pad));
                    }
                }
                if k + 1 < row.len() {
                    s.push_str("  ");
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = format!("Model: \"{}\"\n", self.model);
        out += &"━".repeat(total_width);
        out.push('\n');
        out += &line(&headers.map(String::from));
        out += &"━".repeat(total_width);
        out.push('\n');
        for row in &cells {
            out += &line(row);
        }
        out += &"━".repeat(total_width);
        out.push('\n');
        let t = &self.totals;
        out += &format!(" Inputs: {}\n", self.inputs.join(", "));
        out += &format!(" Outputs: {}\n", self.outputs.join(", "));
        out += &format!(
            " Total params: {} ({})\n",
            group(t.total_params),
            bytes(t.param_bytes)
        );
        out += &format!(
            " Trainable params: {} ({})\n",
            group(t.trainable_params),
            f32_bytes(t.trainable_params)
        );
        out += &format!(
            " Non-trainable params: {} ({})\n",
            group(t.non_trainable_params),
            f32_bytes(t.non_trainable_params)
        );
        out += &format!(
            " Mult-adds (conv + dense, per sample): {} ({})\n",
            group(t.mult_adds),
            giga(t.mult_adds)
        );
        out += &format!(
            " Activations per sample: {} in all layer outputs, {} peak live\n",
            bytes(t.activation_bytes),
            bytes(t.peak_activation_bytes)
        );
        out
    }
}

/// `150528` → `150,528`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn giga(n: u64) -> String {
    if n >= 1_000_000_000 {
        format!("{:.2} G", n as f64 / 1e9)
    } else {
        format!("{:.2} M", n as f64 / 1e6)
    }
}

/// The size of `count` f32s (exact: `u128` cannot overflow).
fn f32_bytes(count: u64) -> String {
    bytes(u128::from(count) * 4)
}

fn bytes(b: impl Into<u128>) -> String {
    let b: u128 = b.into();
    const KIB: f64 = 1024.0;
    let f = b as f64;
    if f >= KIB * KIB * KIB {
        format!("{:.2} GiB", f / (KIB * KIB * KIB))
    } else if f >= KIB * KIB {
        format!("{:.2} MiB", f / (KIB * KIB))
    } else if f >= KIB {
        format!("{:.2} KiB", f / KIB)
    } else {
        format!("{b} B")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_thousands() {
        assert_eq!(super::group(150528), "150,528");
        assert_eq!(super::group(999), "999");
        assert_eq!(super::group(1000), "1,000");
        assert_eq!(super::group(11689512), "11,689,512");
    }
}
