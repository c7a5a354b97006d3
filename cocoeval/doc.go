// Package cocoeval evaluates object detections against COCO ground truth the
// way pycocotools 2.0.11 does, in pure Go.
//
// It replicates the semantics of pycocotools' COCO.loadRes and COCOeval
// (evaluate, accumulate, summarize) for the "bbox" and "segm" IoU types
// with the default detection parameters: IoU thresholds
// np.linspace(.5, .95, 10), 101 recall points, maxDets 1/10/100, the
// all/small/medium/large area ranges on the annotations' "area" field,
// crowd ground truth matched many times and ignored, greedy matching by
// descending score with numpy's stable sort, the right-to-left precision
// envelope sampled with searchsorted, and numpy's pairwise summation in the
// final means, so that Result.Stats equals COCOeval.stats to the last bit
// or nearly so.
//
// The mask utilities (RLE, Encode, DecodeString, FrPoly, FrBbox, Merge,
// MaskIoU, BoxIoU) port pycocotools' maskApi.c operation for operation,
// including the polygon rasterization (upsampling by 5) and the compressed
// "counts" string codec.
//
// Differences from pycocotools are in error handling only: malformed input
// gives an error naming the file, the entry and the field instead of an
// assertion or a KeyError, and an empty list of detections evaluates to 0
// rather than failing. As in pycocotools, annotations and detections whose
// image or category is not evaluated are skipped silently, except that a
// detection for an image that is not in the ground truth is an error.
package cocoeval
