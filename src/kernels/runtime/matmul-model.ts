// A one-node ONNX model Y = A·B, built with onnx-buf. The runtime's tests and the kernels
// benchmark use it as the raw-MatMul baseline a stage's throughput is compared against.
import { create, toBinary } from "@bufbuild/protobuf";
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataType,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
} from "onnx-buf";

const valueInfo = (name: string, dims: readonly number[]) =>
  create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: "tensorType",
        value: create(TypeProto_TensorSchema, {
          elemType: TensorProto_DataType.FLOAT,
          shape: create(TensorShapeProtoSchema, {
            dim: dims.map((d) => create(TensorShapeProto_DimensionSchema, { value: { case: "dimValue", value: BigInt(d) } })),
          }),
        }),
      },
    }),
  });

/** Serialized opset-21 model with float inputs A[m,k], B[k,n] and output Y[m,n] = A·B. */
export const matmulModel = (m: number, k: number, n: number): Uint8Array =>
  toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, {
      irVersion: 10n,
      producerName: "swarmline",
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 21n })],
      graph: create(GraphProtoSchema, {
        name: "matmul",
        node: [create(NodeProtoSchema, { opType: "MatMul", input: ["A", "B"], output: ["Y"], name: "mm" })],
        input: [valueInfo("A", [m, k]), valueInfo("B", [k, n])],
        output: [valueInfo("Y", [m, n])],
      }),
    }),
  );
