"""Systems the survey names that the zoo does not build, and why (``lightsr models`` lists them).

Each was looked for in the authors' code, the paper text and the comparison tables reachable from
this project (no internet at run time, and paper bodies behind publishers); what was missing is
said exactly, so that anyone holding the missing piece knows what would make the model buildable.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Unavailable:
    name: str
    family: str
    paper: str
    reason: str


UNAVAILABLE = (
    Unavailable(
        "gladsr", "dense", "GLADSR (global-local adjusting dense network; Zhang et al., IEEE TMM, 2020/21 as recalled)",
        "no code, no paper text and no comparison-table entry was found; without the block design, widths and depth "
        "there is nothing faithful to build"),
    Unavailable(
        "esrn", "dense", "Efficient Residual Dense Block Search for Image Super-Resolution (Song et al., AAAI 2020): "
        "ESRN, ESRN-F, ESRN-V",
        "the search space is public (huawei-noah/vega: the three residual dense block types and the network layout), "
        "but the searched block lists of ESRN, ESRN-F and ESRN-V are published only as a figure; vega's one example "
        "genotype is none of them (530K parameters against the 324K/1,014K/1,019K reported)"),
    Unavailable(
        "lkasr", "attention", "LKASR: Large kernel attention for lightweight image super-resolution (Feng et al., "
        "Knowledge-Based Systems 252, 2022)",
        "no code; only the abstract is reachable (blocks of a 1x1 conv, large-kernel attention and a refinement "
        "module): the widths, depth, refinement module, upsampler and every published figure are in the paper body"),
    Unavailable(
        "splitsr", "extremely_lightweight", "SplitSR: An End-to-End Approach to Super-Resolution on Mobile Devices (Liu "
        "et al., ACM IMWUT 2021)",
        "no official code; the two public re-implementations say they guessed the split block, the split ratio and "
        "the 'hybrid index' (and one shares weights by mistake); depending on those guesses x4 ranges from 1.75M to "
        "8.67M parameters, and the paper's counts were not reachable to choose between them"),
    Unavailable(
        "cdfm_mobile", "extremely_lightweight", "CDFM-Mobile (named in the survey's channel-mixing examples)",
        "no paper or code by this name was found; the closest candidates (ShuffleMixer, SAFMN's channel mixer, "
        "SCSRN) are different systems, and the survey's reference list, which would identify it, was not reachable"),
)
