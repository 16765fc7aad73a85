"""The papermill engine the runner uses: a notebook runs on a kernel it is given (the chain's, or the runner
process's) and the kernel is left running. Parameters, cell metadata, the error cell and PapermillExecutionError
are papermill's own, as with its default engine. Imported only when notebooks run (papermill costs ~2 s)."""
from __future__ import annotations

from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

ENGINE = "tracker-shared-kernel"
SAVE_EVERY = 2.0        # seconds between writes of a running notebook (papermill: before and after every cell)



class Manager(NotebookExecutionManager):
    """papermill's manager, writing the notebook as cells run at most every SAVE_EVERY seconds (papermill
    writes and validates the whole notebook before and after every cell); the start and the end, whatever
    happens, are always written."""
    _in_cell = False

    def save(self, **kwargs):
        if self._in_cell and self.last_save_time is not None \
                and (self.now() - self.last_save_time).total_seconds() < SAVE_EVERY:
            return
        super().save(**kwargs)

    def _during_cell(self, step, cell, cell_index, **kwargs):
        self._in_cell = True
        try:
            step(cell, cell_index, **kwargs)
        finally:
            self._in_cell = False

    def cell_start(self, cell, cell_index=None, **kwargs):
        self._during_cell(super().cell_start, cell, cell_index, **kwargs)

    def cell_complete(self, cell, cell_index=None, **kwargs):
        self._during_cell(super().cell_complete, cell, cell_index, **kwargs)

class SharedKernelEngine(NBClientEngine):
    @classmethod
    def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False,
                         autosave_cell_every=30, **kwargs):
        nb_man = Manager(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output,
                         autosave_cell_every=autosave_cell_every)
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
        from papermill.clientwrap import PapermillNotebookClient
        from papermill.engines import logger as pm_logger
        from papermill.utils import merge_kwargs, remove_args
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final = merge_kwargs(safe_kwargs, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                             startup_timeout=start_timeout, kernel_name=kernel_name, log=pm_logger,
                             log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
        chain = final.pop("chain", None)
        client = PapermillNotebookClient(nb_man, **final)
        if chain is not None:
            client.kc = chain.akc   # the chain's client, connected already (a new one waits 0.2 s for iopub)
        try:
            return client.execute()
        finally:
            if chain is not None and chain.km is not None:
                chain.akc = client.kc           # kept for the chain's next notebook
            elif client.kc is not None:
                client.kc.stop_channels()


def register() -> None:
    if ENGINE not in papermill_engines._engines:
        papermill_engines.register(ENGINE, SharedKernelEngine)
