"""fmnist_accuracy.py PRED MODEL TOL - exit 0 when the Fashion-MNIST test
accuracy of PRED (one predicted class per byte, against Debian's test
labels) is within TOL points of the accuracy MODEL's doc_string states
("test accuracy 87.11%"), else 1; prints both as a TAP comment."""
import gzip, re, sys
import onnx

labels = gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").read()[8:]
pred = open(sys.argv[1], "rb").read()
acc = 100.0 * sum(p == y for p, y in zip(pred, labels)) / len(labels)
stated = float(re.search(r"test accuracy ([0-9.]+)%", onnx.load(sys.argv[2]).doc_string).group(1))
print("# ORT %.2f%%, stated %.2f%%" % (acc, stated))
sys.exit(0 if len(pred) == len(labels) and abs(acc - stated) <= float(sys.argv[3]) else 1)
