//! MONAI's `DiceLoss` and `DiceCELoss` with the options the tutorial uses and the common ones around
//! them (docs/MONAI_COMPAT.md, "DiceCELoss"). Inputs are logits `(B, C, X, Y, Z)`; targets are
//! label maps `(B, 1, X, Y, Z)` (`to_onehot_y`) or one-hot `(B, C, X, Y, Z)`.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, sigmoid, softmax};
use burn::tensor::backend::Backend;

use ssl3d_kernels::dice_ce::{SoftmaxDiceCe, fused_parts};

/// How per-(batch, class) losses are reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    Mean,
    Sum,
}

/// `DiceLoss` options; defaults are MONAI's.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiceLossConfig {
    pub include_background: bool,
    pub to_onehot_y: bool,
    pub sigmoid: bool,
    pub softmax: bool,
    pub squared_pred: bool,
    pub jaccard: bool,
    pub reduction: Reduction,
    pub smooth_nr: f64,
    pub smooth_dr: f64,
    /// Sum over the batch before the ratio (one Dice per class for the whole batch).
    pub batch: bool,
}

impl Default for DiceLossConfig {
    fn default() -> Self {
        DiceLossConfig {
            include_background: true,
            to_onehot_y: false,
            sigmoid: false,
            softmax: false,
            squared_pred: false,
            jaccard: false,
            reduction: Reduction::Mean,
            smooth_nr: 1e-5,
            smooth_dr: 1e-5,
            batch: false,
        }
    }
}

/// `DiceCELoss` options: Dice options plus the weights of the two terms.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiceCeLossConfig {
    pub dice: DiceLossConfig,
    pub lambda_dice: f64,
    pub lambda_ce: f64,
}

impl Default for DiceCeLossConfig {
    fn default() -> Self {
        DiceCeLossConfig {
            dice: DiceLossConfig::default(),
            lambda_dice: 1.0,
            lambda_ce: 1.0,
        }
    }
}

impl DiceCeLossConfig {
    /// The tutorial's `DiceCELoss(to_onehot_y=True, softmax=True)`.
    pub fn tutorial() -> Self {
        DiceCeLossConfig {
            dice: DiceLossConfig {
                to_onehot_y: true,
                softmax: true,
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

/// One-hot of a `(B, 1, ...)` label map into `(B, C, ...)` (labels compared as whole numbers), in
/// the label map's float type.
pub fn one_hot_labels<B: Backend>(labels: Tensor<B, 5>, num_classes: usize) -> Tensor<B, 5> {
    let dtype = labels.dtype();
    let classes: Vec<Tensor<B, 5>> = (0..num_classes)
        .map(|c| labels.clone().equal_elem(c as f32).float().cast(dtype))
        .collect();
    Tensor::cat(classes, 1)
}

impl DiceLossConfig {
    /// The Dice loss of `input` against `target`; a one-element tensor.
    pub fn forward<B: Backend>(&self, input: Tensor<B, 5>, target: Tensor<B, 5>) -> Tensor<B, 1> {
        let c = input.dims()[1];
        let mut input = input;
        if self.sigmoid {
            input = sigmoid(input);
        }
        if self.softmax && c > 1 {
            input = softmax(input, 1);
        }
        let mut target = target;
        if self.to_onehot_y && c > 1 {
            target = one_hot_labels(target, c);
        }
        if !self.include_background && c > 1 {
            let dims = input.dims();
            input = input.slice([0..dims[0], 1..c, 0..dims[2], 0..dims[3], 0..dims[4]]);
            target = target.slice([0..dims[0], 1..c, 0..dims[2], 0..dims[3], 0..dims[4]]);
        }
        let reduce: &[usize] = if self.batch {
            &[0, 2, 3, 4]
        } else {
            &[2, 3, 4]
        };
        let tp = (input.clone() * target.clone()).sum_dims(reduce);
        let (pred_o, ground_o) = if self.squared_pred {
            (
                input.powi_scalar(2).sum_dims(reduce),
                target.powi_scalar(2).sum_dims(reduce),
            )
        } else {
            (input.sum_dims(reduce), target.sum_dims(reduce))
        };
        let mut fp = pred_o - tp.clone();
        let mut fn_ = ground_o - tp.clone();
        if !self.jaccard {
            fp = fp * 0.5;
            fn_ = fn_ * 0.5;
        }
        let numerator = tp.clone() * 2.0 + self.smooth_nr;
        let denominator = (tp + fp + fn_) * 2.0 + self.smooth_dr;
        let f = -(numerator / denominator) + 1.0;
        match self.reduction {
            Reduction::Mean => f.mean(),
            Reduction::Sum => f.sum(),
        }
    }
}

/// `nn.CrossEntropyLoss()` on logits `(B, C, ...)` against a `(B, 1, ...)` label map: the mean of
/// `−log softmax(logits)[label]` over all voxels.
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 5>, labels: Tensor<B, 5>) -> Tensor<B, 1> {
    let c = logits.dims()[1];
    let target = one_hot_labels(labels, c);
    -(log_softmax(logits, 1) * target).sum_dim(1).mean()
}

impl DiceCeLossConfig {
    /// `λ_dice·Dice + λ_ce·CE`, with the parts for logging: `(total, dice, ce)`. On the CPU
    /// backend with softmax and one-hot labels (the tutorial's setting) this is one fused kernel
    /// (`kernels::dice_ce`); there, under autodiff, only `total` carries gradients and `dice` and
    /// `ce` are values for logging.
    pub fn forward_parts<B: Backend>(
        &self,
        logits: Tensor<B, 5>,
        labels: Tensor<B, 5>,
    ) -> (Tensor<B, 1>, Tensor<B, 1>, Tensor<B, 1>) {
        let d = &self.dice;
        if !(d.softmax && d.to_onehot_y && !d.sigmoid) {
            return self.reference_parts(logits, labels);
        }
        let fused = SoftmaxDiceCe {
            include_background: d.include_background,
            squared_pred: d.squared_pred,
            jaccard: d.jaccard,
            batch: d.batch,
            mean: d.reduction == Reduction::Mean,
            smooth_nr: d.smooth_nr,
            smooth_dr: d.smooth_dr,
            lambda_dice: self.lambda_dice,
            lambda_ce: self.lambda_ce,
        };
        match fused_parts(&fused, logits, labels) {
            Ok([total, dice, ce]) => (total, dice, ce),
            Err((logits, labels)) => self.reference_parts(logits, labels),
        }
    }

    /// [`Self::forward_parts`] written with Burn tensor ops (any backend, any options); the
    /// fused CPU kernel's test reference.
    pub fn reference_parts<B: Backend>(
        &self,
        logits: Tensor<B, 5>,
        labels: Tensor<B, 5>,
    ) -> (Tensor<B, 1>, Tensor<B, 1>, Tensor<B, 1>) {
        let dice = self.dice.forward(logits.clone(), labels.clone());
        let ce = if self.dice.to_onehot_y {
            cross_entropy(logits, labels)
        } else {
            // One-hot targets: CE against the class index of each voxel.
            let idx = labels.argmax(1).float();
            cross_entropy(logits, idx)
        };
        let total = dice.clone() * self.lambda_dice + ce.clone() * self.lambda_ce;
        (total, dice, ce)
    }

    pub fn forward<B: Backend>(&self, logits: Tensor<B, 5>, labels: Tensor<B, 5>) -> Tensor<B, 1> {
        self.forward_parts(logits, labels).0
    }
}
