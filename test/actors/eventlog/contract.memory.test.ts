// The EventLog contract against the in-memory implementation.
import { layerMemory } from "../../../src/actors/eventlog/memory.js";
import { eventLogContract } from "./contract.js";

eventLogContract("memory", layerMemory);
