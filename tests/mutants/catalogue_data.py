"""Mutants of the datamodules: MNIST/Fashion-MNIST, CIFAR-10/100, CIFAR-10-C, ImageNet, ImageFolder,
CelebA, LSUN, digits, and the shared base (scaling, subsets)."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

_D = "src/robustlens/data/"

MUTANTS: list[Mutant] = [
    Mutant("uint8_scaled_by_256", "data", _D + "base.py",
           "x.float().div_(255.0)", "x.float().div_(256.0)",
           ("tests/data/test_datamodules.py::test_cifar10_reads_real_format[False]",)),
    Mutant("mnist_train_test_swapped", "data", _D + "mnist.py",
           "    True: (\"train-images-idx3-ubyte\", \"train-labels-idx1-ubyte\"),\n    False: (\"t10k-images-idx3-ubyte\", \"t10k-labels-idx1-ubyte\"),",
           "    False: (\"train-images-idx3-ubyte\", \"train-labels-idx1-ubyte\"),\n    True: (\"t10k-images-idx3-ubyte\", \"t10k-labels-idx1-ubyte\"),",
           ("tests/data/test_datamodules.py::test_idx_datasets_from_read_only_gz_folder[MNISTDataModule-test_counts0]",)),
    Mutant("cifar10_test_split_from_train", "data", _D + "cifar10.py",
           "for f in (TRAIN_BATCHES if train else (TEST_BATCH,))", "for f in TRAIN_BATCHES",
           ("tests/data/test_datamodules.py::test_cifar10_reads_real_format[False]",)),
    Mutant("cifar100_always_fine_labels", "data", _D + "cifar100.py",
           'key = f"{self.label_type}_labels"', 'key = "fine_labels"',
           ("tests/data/test_file_datamodules.py::test_cifar100_reads_the_published_pickles",)),
    Mutant("cifar10c_severity_off_by_one", "data", _D + "cifar10c.py",
           "start = (severity - 1) * per_severity", "start = severity * per_severity % (5 * per_severity)",
           ("tests/data/test_cifar10c.py::test_items_range_and_severity_block",)),
    Mutant("celeba_attribute_inverted", "data", _D + "celeba.py",
           'labels = torch.as_tensor((values == 1).astype("int64"))',
           'labels = torch.as_tensor((values != 1).astype("int64"))',
           ("tests/data/test_file_datamodules.py::test_celeba_attribute_labels_partitions_and_paper_a_preprocessing",)),
    Mutant("imagenet_ids_not_sorted_by_wnid", "data", _D + "imagenet.py",
           "order = {wnid: i for i, wnid in enumerate(sorted(w for _, w in leaves))}",
           "order = {wnid: i for i, wnid in enumerate(w for _, w in leaves)}",
           ("tests/data/test_file_datamodules.py::test_imagenet_flat_layout_with_the_devkit_ground_truth",)),
    Mutant("lsun_test_split_truncated", "data", _D + "lsun.py",
           "limit = self.train_per_category if train else None", "limit = self.train_per_category",
           ("tests/data/test_file_datamodules.py::test_lsun_reads_the_published_lmdb_folders",)),
    Mutant("imagefolder_labels_shifted", "data", _D + "imagefolder.py",
           "for index, name in enumerate(classes):", "for index, name in enumerate(classes, start=1):",
           ("tests/data/test_file_datamodules.py::test_imagefolder_any_size_resized_and_cropped",)),
    Mutant("digits_split_not_stratified", "data", _D + "digits.py",
           "random_state=SPLIT_SEED, stratify=labels.numpy(),", "random_state=SPLIT_SEED,",
           ("tests/data/test_datamodules.py::test_digits_shapes_counts_and_stratified_split",)),
    Mutant("stratified_subset_ignores_class", "data", _D + "subsets.py",
           "per_class = [torch.nonzero(labels == c).flatten() for c in range(k)]",
           "per_class = [torch.arange(len(labels)) for c in range(k)]",
           ("tests/data/test_subsets_and_samplers.py::test_stratified_first_n_hand_computed",)),
]
