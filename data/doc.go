// Package data reads detection datasets and turns them into batches of
// network inputs for RetinaNet training and evaluation.
//
// The central type is Dataset: a list of Samples (one per image) with their
// ground-truth Objects. Get one with LoadCOCO (COCO instances JSON), LoadVOC
// (Pascal VOC XML) or GenerateShapes (a synthetic task that needs no files).
// Dataset.Validate removes annotations that cannot be trained on and reports
// what it removed. A Loader decodes, augments and normalises images on a
// data/pipeline worker pool (resampling with data/resample) and hands out
// Batches in a deterministic order. A loaded Dataset is read-only, so many
// loaders (trials) can share one.
//
// # Conventions
//
// Boxes are box.Box values (package detection/box, the one box type of the
// module; its W and H clamp at 0), [x1 y1 x2 y2] in pixels, continuous
// coordinates: the image covers [0, Width) × [0, Height), pixel (i, j) is
// the unit square whose top-left corner is (i, j) and whose centre is
// (i+0.5, j+0.5). A box that covers
// exactly pixel columns 3..5 is X1=3, X2=6. COCO bboxes [x y w h] already use
// this convention; VOC's 1-based inclusive corners are converted (LoadVOC).
//
// Network inputs are NHWC float32 tensors [B, S, S, 3] (RGB). Following the
// SpineNet/RetinaNet input convention (spec §4) every image is resized so its
// long side is S (times a random jitter factor in training), pixels are mapped
// to [0, 1], the ImageNet mean is subtracted and the result divided by the
// ImageNet std, and the image is then zero-padded at the bottom and right to
// S×S — padding happens after normalisation, so padded pixels are exactly 0.
// Spec §4 also wants S to be a multiple of 2^max_level (128 for levels 3..7);
// Transform does not enforce it so that tests can use small sizes.
//
// Classes are contiguous 0..K-1 (Object.Class); Dataset.CategoryIDs maps them
// back to the dataset's own (possibly sparse, as in COCO) category ids.
package data
