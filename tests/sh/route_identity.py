"""route_identity.py IN OUT - routes every weight ggpack converted (metadata
ggpack.converted) through an Identity node, in every graph. ONNX Runtime
prepacks initializer weights of some kernels (LSTM, Conv) into another
summation order, while the lut store's weights are computed (Gather), so
they are not prepacked. Routing the float store's weights through Identity
gives both the same kernels: then equal weights give bit-equal outputs."""
import json
import sys

import onnx
from onnx import helper

model = onnx.load(sys.argv[1])
meta = {p.key: p.value for p in model.metadata_props}
converted = set(json.loads(meta["ggpack.converted"]))


def route(graph):
    front, nodes = [], []
    for init in graph.initializer:
        if init.name in converted:
            front.append(helper.make_node("Identity", [init.name + ".raw"], [init.name]))
            init.name += ".raw"
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                route(attr.g)
            for g in attr.graphs:
                route(g)
        nodes.append(node)
        if node.op_type == "Constant" and node.output[0] in converted:
            name = node.output[0]
            node.output[0] = name + ".raw"
            nodes.append(helper.make_node("Identity", [name + ".raw"], [name]))
    del graph.node[:]
    graph.node.extend(front + nodes)


route(model.graph)
onnx.save(model, sys.argv[2])
