// The real subtensor metadata of the fixture (mainnet, spec 219, from @bitgo/sdk-coin-tao; see
// test/fixtures/README.md), loaded into a registry once per chain so tests encode and decode with it.
import { readFileSync } from "node:fs";
import { Metadata, TypeRegistry } from "@polkadot/types";
import { expandMetadata } from "@polkadot/types/metadata/decorate";

export interface MetadataFixture {
  readonly source: string;
  readonly chainName: string;
  readonly specName: string;
  readonly specVersion: number;
  readonly txVersion: number;
  readonly genesisHash: string;
  readonly at: { readonly hash: string; readonly height: string };
  readonly metadata: string;
}

export const metadataFixture = (): MetadataFixture =>
  JSON.parse(readFileSync(new URL("../../../fixtures/subtensor-metadata.json", import.meta.url), "utf8")) as MetadataFixture;

/** Subtensor's two custom signed extensions carry no bytes in spec 219 (DESIGN "Bittensor weights"). */
export const SUBTENSOR_EXTENSIONS = {
  SubtensorSignedExtension: { extrinsic: {}, payload: {} },
  CommitmentsSignedExtension: { extrinsic: {}, payload: {} },
};

export const loadRegistry = (f: MetadataFixture): { registry: TypeRegistry; metadata: Metadata; decorated: ReturnType<typeof expandMetadata> } => {
  const registry = new TypeRegistry();
  const metadata = new Metadata(registry, f.metadata as `0x${string}`);
  // undefined: the extensions the metadata lists; the user extensions say how to encode the two custom ones.
  registry.setMetadata(metadata, undefined, SUBTENSOR_EXTENSIONS, true);
  return { registry, metadata, decorated: expandMetadata(registry, metadata) };
};
