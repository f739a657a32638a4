/**
 * The `stagemeter` commands, in the order `stagemeter --help` lists them. A new command is a
 * {@link Command} in its own file here, added to this list.
 */
import type { Command } from '../command';
import { diffCommand } from './diff';
import { htmlCommand } from './html';
import { mergeCommand } from './merge';
import { summaryCommand } from './summary';
import { traceCommand } from './trace';
import { validateCommand } from './validate';

export const COMMANDS: readonly Command[] = [summaryCommand, validateCommand, diffCommand, htmlCommand, traceCommand, mergeCommand];
