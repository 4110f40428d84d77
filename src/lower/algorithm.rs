//! Which algorithm runs a convolution, where that is a choice both back ends
//! must make alike.

use crate::ir::{Graph, NodeId, Op};

/// Whether the convolution `node` runs with Winograd F(4×4, 3×3) when that
/// is enabled (`RunOptions::winograd`, `EmitOptions::winograd`): a 3×3,
/// stride-1, undilated, one-group convolution (what
/// `runtime::kernels::WinogradConv2d` computes, at any padding) with at
/// least 32 input and 32 output channels, on an input of at least 8×8.
/// Below that, the transforms and the tiles' cropped edges cost more than
/// the products save (onnxruntime's MLAS draws the same line).
///
/// `Err` when `node` is not a convolution reading a C×H×W value: the caller
/// asked about a node it should not have (a bug in resnetc).
pub fn winograd_eligible(g: &Graph, node: NodeId) -> Result<bool, String> {
    let n = g
        .nodes
        .get(node.0 as usize)
        .ok_or_else(|| format!("node {} does not exist", node.0))?;
    let Op::Conv(c) = &n.op else {
        return Err(format!("`{}` is not a convolution", n.name));
    };
    let input = n
        .inputs
        .first()
        .and_then(|&x| g.nodes.get(x.0 as usize))
        .ok_or_else(|| format!("convolution `{}` reads no value", n.name))?;
    let &[_, h, w] = input.shape.0.as_slice() else {
        return Err(format!(
            "convolution `{}` reads a value of shape {}, not C×H×W",
            n.name, input.shape
        ));
    };
    Ok(c.kernel == [3, 3]
        && c.stride == [1, 1]
        && c.dilation == [1, 1]
        && c.groups == 1
        && c.in_channels >= 32
        && c.out_channels >= 32
        && h >= 8
        && w >= 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 3×3 convolutions of a small net, by name: eligible or not.
    fn eligible(src: &str) -> Vec<(String, bool)> {
        let c = crate::compile_source("m.rn", src, &Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let g = c.model.graph();
        g.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.op, Op::Conv(_)))
            .map(|(i, n)| {
                (
                    n.name.clone(),
                    winograd_eligible(g, NodeId(i as u32)).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn only_wide_3x3_stride_1_convolutions_on_maps_of_8x8_or_more() {
        let src = "model m {\n  input x: [32, 8, 8]\n  x -> a: conv(32, 3, pad: 1) -> b: conv(64, 3, stride: 2, pad: 1) -> c: conv(64, 1) -> d: conv(64, 3, pad: 1) -> e: conv(16, 3, pad: 1) -> f: conv(32, 3, pad: 2, dilation: 2) -> g: conv(32, 3, pad: 1, groups: 2)\n}\n";
        let got = eligible(src);
        let want = [
            ("a", true),
            ("b", false), // stride 2
            ("c", false), // 1×1
            ("d", false), // a 4×4 input
            ("e", false), // 16 output channels
            ("f", false), // dilated
            ("g", false), // grouped
        ];
        let want: Vec<(String, bool)> = want.iter().map(|&(n, e)| (n.to_string(), e)).collect();
        assert_eq!(got, want);
        // Asked about a node that is no convolution: a bug, named.
        let c = crate::compile_source(
            "m.rn",
            "model m {\n  input x: [4]\n  x -> d: dense(2)\n}\n",
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let g = c.model.graph();
        let e = winograd_eligible(g, NodeId(1)).unwrap_err();
        assert!(e.contains("`d` is not a convolution"), "{e}");
        assert!(winograd_eligible(g, NodeId(99)).is_err());
        let narrow = "model m {\n  input x: [16, 8, 8]\n  x -> a: conv(32, 3, pad: 1)\n}\n";
        assert_eq!(eligible(narrow), [("a".to_string(), false)]);
    }
}
