// A program a libmnv2 user would write: one include, one library. Built against an installed
// tree by tests/consumer/run.sh, once through find_package(mnv2), once through pkg-config.
//   classify_photo MODEL IMAGE  ->  "index<TAB>probability<TAB>name" for the top 3 classes
#include <mnv2/mnv2.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL IMAGE\n", argv[0]);
    return 2;
  }
  try {
    mnv2::Options options;
    options.threads = 1;
    mnv2::Model model = mnv2::Model::load(argv[1], options);
    for (const mnv2::Prediction& p : model.classify(argv[2], 3))
      std::printf("%d\t%.4f\t%s\n", p.index, double(p.probability), p.label.c_str());
    // The same through the lower-level calls: the input tensor, run(), the built-in names.
    const std::vector<float> input = mnv2::load_image(argv[2], model.info());
    std::vector<float> probs(size_t(model.info().num_classes));
    model.run(input.data(), 1, probs.data());
    size_t best = 1;
    for (size_t c = 1; c < probs.size(); ++c)
      if (probs[c] > probs[best]) best = c;
    const std::vector<std::string> names = mnv2::imagenet_labels(model.info().num_classes);
    std::printf("run: %zu\t%s\n", best, best < names.size() ? names[best].c_str() : "");
  } catch (const mnv2::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
