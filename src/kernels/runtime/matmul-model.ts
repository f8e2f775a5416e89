// A one-node ONNX model Y = A·B, built with onnx-buf. The runtime's tests and the kernels
// benchmark use it as the raw-MatMul baseline a stage's throughput is compared against.
import { create, toBinary } from "@bufbuild/protobuf";
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema } from "onnx-buf";
import { IR_VERSION, OPSET, valueInfo } from "../autodiff/emit.js";

/** Serialized opset-21 model with float inputs A[m,k], B[k,n] and output Y[m,n] = A·B. */
export const matmulModel = (m: number, k: number, n: number): Uint8Array =>
  toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, {
      irVersion: BigInt(IR_VERSION),
      producerName: "swarmline",
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(OPSET) })],
      graph: create(GraphProtoSchema, {
        name: "matmul",
        node: [create(NodeProtoSchema, { opType: "MatMul", input: ["A", "B"], output: ["Y"], name: "mm" })],
        input: [valueInfo("A", [m, k], "float32"), valueInfo("B", [k, n], "float32")],
        output: [valueInfo("Y", [m, n], "float32")],
      }),
    }),
  );
