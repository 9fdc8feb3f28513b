<?php

declare(strict_types=1);

// Administration settings → NextPyter. The script nextpyter-admin (added by
// OCA\NextPyter\Settings\Admin) renders the page into this element.
?>
<div id="nextpyter-admin"></div>
