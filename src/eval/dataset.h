// Labelled image datasets for `mnv2 eval`: the three layouts people keep ImageNet val in.
//
//  * list file: a folder of images plus a ground-truth file of `file label` lines (the
//    Open Model Zoo / Caffe `val.txt` form, labels 0..999);
//  * synset folders: one sub-folder per class (`val/n01440764/*.JPEG`); the class order
//    comes from a synsets file (one WordNet id per line, optionally followed by a name) or,
//    without one, from the sorted folder names;
//  * CSV: `path,label` rows (a header row is recognised and skipped; paths relative to a
//    base folder).
//
// Labels stay in the dataset's own numbering; the caller maps them to model classes.
// Every malformed line is an mnv2::Error naming the file and the line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mnv2::eval {

struct Sample {
  std::string name;  // as the dataset names it (list/CSV entry, or class/file for folders)
  std::string path;  // the file to read
  int label = 0;     // dataset numbering
};

struct Dataset {
  std::string layout;  // "list", "synset-folders", "csv"
  std::vector<Sample> samples;
  // Optional per-label names (synset folders: the WordNet id, or the name the synsets file
  // gives after it). Index = dataset label.
  std::vector<std::string> label_names;
  std::vector<std::string> synsets;  // synset folders: the WordNet id of each label
};

// `file label` lines; blank lines and lines starting with '#' are skipped. The file name
// is everything before the last run of whitespace, so names may contain spaces.
Dataset load_list(const std::string& images_dir, const std::string& list_path);
Dataset parse_list(const std::string& text, const std::string& images_dir,
                   const std::string& list_name);

// `path,label[,...]` rows; fields may be double-quoted ("" escapes a quote). The first row
// is a header when its label field is not an integer. Relative paths join `base_dir`.
Dataset load_csv(const std::string& base_dir, const std::string& csv_path);
Dataset parse_csv(const std::string& text, const std::string& base_dir,
                  const std::string& csv_name);

// Sub-folders of `dir` are classes; image files anywhere below a class folder are its
// samples (sorted by path). With `synsets_path`, the label of a folder is the line number
// of its name in that file (first token of each line); a folder not listed is an error.
Dataset load_synset_folders(const std::string& dir, const std::string& synsets_path);

// True when `dir` looks like synset folders: it has sub-folders and no image files of its
// own.
bool looks_like_synset_folders(const std::string& dir);

// Deterministic subset: with `shuffle` the order is permuted by a Fisher-Yates shuffle
// driven by SplitMix64(seed) (the same on every platform), then the first `limit`
// samples are kept (limit 0 = all).
void select_subset(std::vector<Sample>& samples, size_t limit, bool shuffle, uint64_t seed);

}  // namespace mnv2::eval
