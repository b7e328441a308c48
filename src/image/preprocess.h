// From a decoded RGB image to the model's input tensor (NHWC float, one image).
// docs/preprocessing.md describes each mode and the reference it reproduces.
#pragma once

#include <string>
#include <vector>

#include "image/decode.h"
#include "mnv2/mnv2.h"

namespace mnv2::image {

enum class PreprocessMode {
  Omz,   // central crop 0.875 (accuracy_checker arithmetic), cv2.resize INTER_LINEAR on uint8
  Tf,    // TF-slim eval: float [0,1], tf.image.central_crop(0.875), TF1 resize_bilinear
  None,  // whole image, half-pixel bilinear in float32, truncated to uint8 (libcoral tests)
};
PreprocessMode parse_preprocess_mode(const std::string& s);
const char* preprocess_mode_name(PreprocessMode m);

struct CropBox {
  int x = 0, y = 0, width = 0, height = 0;
};
// accuracy_checker `crop` with central_fraction: size = int(dim * f), offset = (dim - size) // 2.
CropBox omz_central_crop(int width, int height, double fraction);
// tf.image.central_crop: offset = int((dim - dim * f) / 2), size = dim - 2 * offset.
CropBox tf_central_crop(int width, int height, double fraction);
Image crop(const Image& img, const CropBox& box);

// cv2.resize(..., interpolation=INTER_LINEAR) on 8-bit data: half-pixel centres,
// 11-bit fixed-point coefficients, OpenCV's rounding of the two passes.
Image resize_linear_opencv(const Image& src, int out_w, int out_h);
// TFLite/libcoral RESIZE_BILINEAR (half_pixel_centers) in float32, truncated to uint8.
Image resize_bilinear_half_pixel_trunc(const Image& src, int out_w, int out_h);
// TF1 tf.image.resize_bilinear(align_corners=False, half_pixel_centers=False) on floats
// (HxWx3 interleaved), result in float.
std::vector<float> resize_bilinear_tf1(const float* src, int w, int h, int out_w, int out_h);

struct Preprocessed {
  // Resized pixels before normalisation, HxWx3 RGB, in the 0..255 domain. For omz/none
  // these are the exact uint8 values; for tf they are 255 * the float [0,1] result.
  std::vector<float> resized;
  Image resized_u8;  // omz/none: the uint8 image; tf: the float result rounded
};

// The smallest decoded size `mode` needs for `info`'s input without upsampling (the
// central crop included): what JPEG DCT scaling may shrink a large photo to.
void decode_min_size(const ModelInfo& info, PreprocessMode mode, int* width, int* height);
// Bytes preprocess() allocates for a width x height image beyond the image itself (the
// crop copy, TF mode's float copy): with the decoded pixels, a request's memory cost.
int64_t preprocess_working_bytes(int64_t width, int64_t height, PreprocessMode mode);

// Writes info.height*info.width*3 floats (NHWC, the model's channel order and input
// domain) to `out`. `intermediate` (optional) receives the resized image.
void preprocess(const Image& img, const ModelInfo& info, PreprocessMode mode, float* out,
                Preprocessed* intermediate = nullptr);

}  // namespace mnv2::image
