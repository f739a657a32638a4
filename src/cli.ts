#!/usr/bin/env node
/** The `stagemeter` bin (package.json `bin`): the command line itself is in ./cli/main. */
import { main, runFromProcess } from './cli/main';

export { main };
if (require.main === module) runFromProcess();
